"""Flowscope: a durable workflow engine for Python that you can see into."""
