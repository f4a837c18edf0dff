"""The command line: run, validate, inspect, resume and cancel workflows."""
