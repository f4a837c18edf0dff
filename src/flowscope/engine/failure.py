"""Turn an exception into a stored ``ErrorInfo`` (type, message, category, frames)."""

from __future__ import annotations

import os
import sysconfig
import traceback as _tb
from collections.abc import Callable

from flowscope.engine.classify import exception_names, status_code_of
from flowscope.engine.records import ErrorInfo, FrameInfo
from flowscope.errors import FlowscopeError

_LIB_DIRS = tuple(
    os.path.normcase(os.path.realpath(p))
    for p in {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"),
              sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    if p
)
_FLOWSCOPE_DIR = os.path.normcase(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def is_user_file(path: str) -> bool:
    """Whether a source file belongs to the user (not the stdlib, a library or Flowscope)."""
    real = os.path.normcase(os.path.realpath(path))
    if real.startswith(_FLOWSCOPE_DIR + os.sep):
        return False
    if "site-packages" in real or "dist-packages" in real:
        return False
    return not any(real.startswith(d + os.sep) for d in _LIB_DIRS) and not path.startswith("<")


def type_name(exc: BaseException) -> str:
    """Return the exception's class name, qualified unless it is a builtin."""
    cls = type(exc)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class ChildRunFailedError(FlowscopeError):
    """A sub-workflow run failed; the parent step fails with the child's error."""

    def __init__(self, child_run_id: str, child: ErrorInfo | None) -> None:
        self.child_run_id = child_run_id
        self.child = child
        self.category = child.category if child else "internal"
        what = f"{child.type}: {child.message}" if child else "it failed"
        super().__init__(f"sub-workflow run {child_run_id} failed: {what}")


def error_info(exc: BaseException, classify: Callable[[BaseException], str], *,
               frames: tuple[FrameInfo, ...] = (), traceback: str = "") -> ErrorInfo:
    """Describe an exception for the journal.

    ``frames`` and ``traceback`` come from where the code ran when that was elsewhere
    (another process); by default they are read from the exception itself.
    """
    if isinstance(exc, ChildRunFailedError) and exc.child is not None:
        # The parent step carries the child's facts so diagnosis can follow the chain.
        child = exc.child
        return ErrorInfo(
            type=type_name(exc), message=str(exc), category=child.category,
            traceback=child.traceback, frames=child.frames, bases=tuple(exception_names(exc)),
            status_code=child.status_code,
        )
    # A failure in a step's own process carries the child's frames and traceback.
    frames = frames or getattr(exc, "remote_frames", ()) or tuple(
        FrameInfo(file=f.filename, line=f.lineno or 0, function=f.name,
                  is_user_code=is_user_file(f.filename))
        for f in _tb.extract_tb(exc.__traceback__)
    )
    return ErrorInfo(
        type=type_name(exc),
        message=str(exc),
        category=classify(exc),
        traceback=traceback or getattr(exc, "remote_traceback", "") or
        "".join(_tb.format_exception(exc)),
        frames=frames,
        bases=tuple(exception_names(exc)),
        status_code=status_code_of(exc),
    )
