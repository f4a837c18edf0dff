"""Where step code runs: the ``Executor`` protocol and its built-in implementations.

``inline`` (on the event loop), ``thread`` (worker threads; the default for sync
functions) and ``process`` (a fresh process per attempt). Register others with
``Engine(executors={"name": executor})`` and name them in a step's ``executor:``.
"""

from flowscope.engine.executors.base import Executor, Outcome, StepCall
from flowscope.engine.executors.process import ProcessExecutor
from flowscope.engine.executors.thread import InlineExecutor, ThreadExecutor

BUILTIN = ("inline", "thread", "process")
"""The names of the built-in executors."""

__all__ = [
    "BUILTIN",
    "Executor",
    "InlineExecutor",
    "Outcome",
    "ProcessExecutor",
    "StepCall",
    "ThreadExecutor",
]
