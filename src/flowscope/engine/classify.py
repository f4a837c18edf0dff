"""Classify a failure into an error category.

The category is stored with every failed attempt and decides whether the default retry
policy retries it. Rules look at the exception's type and base classes *by name* (so no
optional library has to be installed to recognise its errors), an HTTP status carried by
the exception, and the message. Users add their own rules; the first rule that matches
wins, user rules before built-in ones.

This lives in the engine because the engine's retry decision needs it; the diagnosis
package builds on it (and re-exports it) rather than owning a second copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowscope.errors import (
    DefinitionError,
    ExpressionError,
    FlowscopeError,
    InputError,
    OutputNotSerializableError,
    StepTimeoutError,
)
from flowscope.model.workflow import ERROR_CATEGORIES

VALIDATION = "validation"
TIMEOUT = "timeout"
EXTERNAL_SERVICE = "external_service"
AUTHENTICATION = "authentication"
RATE_LIMIT = "rate_limit"
RESOURCE = "resource"
DATA = "data"
CANCELLED = "cancelled"
INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Rule:
    """One classification rule: any given criterion that matches makes the rule match.

    Args:
        category: The category to give.
        exception: Exception class names (short or qualified) matched against the type and
            every base class.
        message: A regular expression searched in the message (case-insensitive).
        status: HTTP status codes (or ``range`` objects) carried by the exception.
    """

    category: str
    exception: tuple[str, ...] = ()
    message: str | None = None
    status: tuple[int | range, ...] = ()

    def __post_init__(self) -> None:
        if self.category not in ERROR_CATEGORIES:
            raise FlowscopeError(
                f"unknown error category {self.category!r} in a classification rule",
                hint="use one of " + ", ".join(ERROR_CATEGORIES),
            )
        if self.message is not None:
            try:
                re.compile(self.message)
            except re.error as exc:
                raise FlowscopeError(
                    f"bad message pattern {self.message!r} in a classification rule: {exc}",
                    hint="write a valid Python regular expression",
                ) from exc

    def matches(self, names: Sequence[str], message: str, status: int | None) -> bool:
        """Whether the rule matches a failure described by these facts."""
        if self.exception and any(n in names for n in self.exception):
            return True
        if status is not None and self.status:
            for s in self.status:
                if (status in s) if isinstance(s, range) else status == s:
                    return True
        return bool(self.message and re.search(self.message, message, re.IGNORECASE))


def rule_from_dict(data: Mapping[str, Any]) -> Rule:
    """Build a rule from configuration: ``{category, exception?, message?, status?}``."""
    if not isinstance(data, Mapping) or "category" not in data:
        raise FlowscopeError(
            f"a classification rule must be a mapping with a 'category', got {data!r}",
            hint="write e.g. {category: rate_limit, message: 'quota exceeded'}",
        )
    exc = data.get("exception", ())
    status = data.get("status", ())
    return Rule(
        category=str(data["category"]),
        exception=(exc,) if isinstance(exc, str) else tuple(exc),
        message=data.get("message"),
        status=(status,) if isinstance(status, int) else tuple(status),
    )


#: Built-in rules, tried in order after the user's.
BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(CANCELLED, exception=("CancelledError", "RunCancelledError")),
    Rule(TIMEOUT, exception=(
        "TimeoutError", "StepTimeoutError", "Timeout", "ReadTimeout", "ConnectTimeout",
        "TimeoutException", "ReadTimeoutError", "ConnectTimeoutError", "QueryCanceled",
        "DeadlineExceeded", "PoolTimeout", "WriteTimeout",
    ), status=(408, 504)),
    Rule(RATE_LIMIT, exception=("RateLimitError", "TooManyRequests", "ThrottlingException",
                                "RateLimitExceeded"),
         status=(429,),
         message=r"too many requests|rate.?limit|throttl|quota exceeded"),
    Rule(AUTHENTICATION, exception=(
        "PermissionError", "AuthenticationError", "AuthorizationError", "Unauthorized",
        "Forbidden", "PermissionDenied", "InvalidCredentials", "NotAuthenticated",
        "InsufficientPrivilege", "AccessDenied", "InvalidToken", "ExpiredSignatureError",
    ), status=(401, 403), message=r"unauthori[sz]ed|forbidden|permission denied|"
                                   r"invalid (api )?(key|token|credentials)|access denied"),
    Rule(RESOURCE, exception=(
        "MemoryError", "IntegrityError", "DiskFull", "OSError.ENOSPC", "ResourceExhausted",
        "UniqueViolation", "ForeignKeyViolation", "CheckViolation", "NotNullViolation",
        "OutOfMemoryError", "DeadlockDetected", "LockNotAvailable",
    ), status=(507, 413),
        message=r"no space left|out of memory|disk (is )?full|constraint|deadlock|"
                r"too many open files|cannot allocate"),
    Rule(EXTERNAL_SERVICE, exception=(
        "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
        "ConnectionAbortedError", "BrokenPipeError", "ConnectError", "RemoteDisconnected",
        "NewConnectionError", "MaxRetryError", "ProtocolError", "ServiceUnavailable",
        "OperationalError", "InterfaceError", "gaierror", "HTTPError", "HTTPStatusError",
        "ServerError", "BadGateway", "ClientConnectorError", "ServerDisconnectedError",
        "TransportError", "NetworkError", "APIConnectionError", "ExternalServiceError",
    ), status=(range(500, 600),),
        message=r"connection (refused|reset|aborted)|service unavailable|bad gateway|"
                r"temporarily unavailable|name or service not known"),
    Rule(VALIDATION, exception=(
        "ValidationError", "ValueError", "AssertionError", "InputError", "DefinitionError",
        "ExpressionError", "InvalidInput", "SchemaError", "BadRequest",
        "UnprocessableEntity", "OutputNotSerializableError",
    ), status=(400, 404, 409, 422)),
    Rule(DATA, exception=(
        "KeyError", "TypeError", "IndexError", "AttributeError", "JSONDecodeError",
        "UnicodeDecodeError", "UnicodeEncodeError", "ZeroDivisionError", "DecodeError",
        "ParserError", "LookupError", "ArithmeticError", "OverflowError",
    )),
)


def exception_names(exc: BaseException) -> list[str]:
    """Return the short and qualified names of the exception's type and its bases."""
    names: list[str] = []
    for cls in type(exc).__mro__:
        if cls is object:
            continue
        names.append(cls.__name__)
        if cls.__module__ not in ("builtins", "__main__"):
            names.append(f"{cls.__module__}.{cls.__qualname__}")
    return names


def status_code_of(exc: BaseException) -> int | None:
    """Return an HTTP status carried by the exception, if it carries one."""
    candidates: Iterable[Any] = (
        getattr(exc, "status_code", None),
        getattr(exc, "status", None),
        getattr(getattr(exc, "response", None), "status_code", None),
        getattr(getattr(exc, "response", None), "status", None),
        getattr(exc, "code", None),
    )
    for c in candidates:
        if isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599:
            return c
    return None


class Classifier:
    """Give a failure a category using user rules first, then the built-in ones."""

    def __init__(self, rules: Iterable[Rule | Mapping[str, Any]] = ()) -> None:
        self.rules: tuple[Rule, ...] = tuple(
            r if isinstance(r, Rule) else rule_from_dict(r) for r in rules
        )

    def classify_parts(
        self, names: Sequence[str], message: str, status: int | None = None
    ) -> str:
        """Classify from stored facts (type and base names, message, HTTP status)."""
        for rule in (*self.rules, *BUILTIN_RULES):
            if rule.matches(names, message, status):
                return rule.category
        return INTERNAL

    def classify(self, exc: BaseException) -> str:
        """Return the category of an exception."""
        # Our own errors know their category better than any name rule.
        if isinstance(exc, StepTimeoutError):
            return TIMEOUT
        if isinstance(exc, (InputError, DefinitionError, ExpressionError,
                            OutputNotSerializableError)):
            return VALIDATION
        own = getattr(exc, "category", None)
        if isinstance(own, str) and own in ERROR_CATEGORIES:
            return own
        return self.classify_parts(exception_names(exc), str(exc), status_code_of(exc))

    def __call__(self, exc: BaseException) -> str:
        return self.classify(exc)


DEFAULT_CLASSIFIER = Classifier()
