"""Workflow definitions: the immutable model, the loader and validation, the builder."""
