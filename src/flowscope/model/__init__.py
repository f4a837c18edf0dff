"""Workflow definitions: the immutable model, the loader and validation, the builder.

This package imports only :mod:`flowscope.errors` and :mod:`flowscope.expressions`.
"""

from flowscope.model.builder import WorkflowBuilder
from flowscope.model.inputs import coerce_cli_input, validate_inputs
from flowscope.model.loader import (
    definition_hash,
    load_workflow,
    workflow_from_dict,
    workflow_from_json,
    workflow_from_yaml,
)
from flowscope.model.workflow import (
    DEFAULT_RETRY_ON,
    ERROR_CATEGORIES,
    INPUT_TYPES,
    InputSpec,
    RetryPolicy,
    Step,
    Workflow,
)

__all__ = [
    "DEFAULT_RETRY_ON",
    "ERROR_CATEGORIES",
    "INPUT_TYPES",
    "InputSpec",
    "RetryPolicy",
    "Step",
    "Workflow",
    "WorkflowBuilder",
    "coerce_cli_input",
    "definition_hash",
    "load_workflow",
    "validate_inputs",
    "workflow_from_dict",
    "workflow_from_json",
    "workflow_from_yaml",
]
