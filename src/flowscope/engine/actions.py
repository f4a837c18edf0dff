"""Resolve a step's ``uses`` to a Python callable."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flowscope.errors import ActionNotFoundError


def resolve_action(
    uses: str,
    registry: Mapping[str, Callable[..., Any]],
    *,
    source: str | None = None,
    place: str | None = None,
) -> Callable[..., Any]:
    """Return the callable a step's ``uses`` names.

    A registered name wins. Otherwise ``"package.module:function"`` is imported; when the
    module cannot be found, the directory of the workflow's file is tried too, so that a
    folder of workflows can keep its actions beside it.
    """
    if uses in registry:
        return registry[uses]
    if ":" not in uses:
        known = ", ".join(sorted(registry)) or "none"
        raise ActionNotFoundError(
            f"no action registered as {uses!r} (registered: {known})",
            place=place, source=source,
            hint="register it with engine.register_action(name, fn) or write "
            "'package.module:function'",
        )
    module_name, _, attr = uses.partition(":")
    module = _import(module_name, source, uses, place)
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ActionNotFoundError(
                f"module {module_name!r} has no attribute {attr!r}",
                place=place, source=source,
                hint=f"check the function name after ':' in {uses!r}",
            ) from None
    if not callable(target):
        raise ActionNotFoundError(
            f"{uses!r} is not callable", place=place, source=source,
            hint="point `uses` at a function",
        )
    return target  # type: ignore[no-any-return]


def _import(module_name: str, source: str | None, uses: str, place: str | None) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if source is None or source.startswith("<") or not _is_missing(exc, module_name):
            raise _not_found(module_name, uses, source, place, exc) from exc
    except Exception as exc:  # the user's module itself is broken (syntax error, ...)
        raise _not_found(module_name, uses, source, place, exc) from exc
    base = str(Path(source).resolve().parent)
    if base not in sys.path:
        sys.path.insert(0, base)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise _not_found(module_name, uses, source, place, exc) from exc
    except Exception as exc:  # the user's module itself is broken (syntax error, ...)
        raise _not_found(module_name, uses, source, place, exc) from exc


def _is_missing(exc: ModuleNotFoundError, module_name: str) -> bool:
    # Only the module we asked for (or one of its parents) missing, not one it imports.
    return exc.name is not None and (module_name == exc.name or
                                     module_name.startswith(exc.name + "."))


def _not_found(
    module_name: str, uses: str, source: str | None, place: str | None, exc: Exception
) -> ActionNotFoundError:
    return ActionNotFoundError(
        f"cannot import module {module_name!r} for {uses!r}: {exc}",
        place=place, source=source,
        hint="install the package, or put the module beside the workflow file",
    )


def is_async_callable(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns an awaitable to be run on the event loop."""
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)
