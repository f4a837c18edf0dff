"""Classify a failure into an error category.

The category is stored with every failed attempt and decides whether the default retry
policy retries it. Rules look at the exception's type and base classes *by name* (so no
optional library has to be installed to recognise its errors), an HTTP status carried by
the exception, and the message.

Order of decision (the first that gives a category wins):

1. Flowscope's own errors and exceptions carrying a valid ``category`` attribute.
2. User rules, in the order given: the first rule with any matching criterion wins.
3. Built-in *name* rules, by position on the MRO: the most specific class that some rule
   names decides (``JSONDecodeError`` is a ``ValueError`` but is ``data``, not
   ``validation``; psycopg's ``UniqueViolation`` is ``resource`` whatever its bases).
   Service error codes (botocore's ``Error.Code``, an ``OSError``'s errno as
   ``errno.ENOSPC``) count as names more specific than the class itself.
4. The HTTP status carried by the exception (408/504 timeout, 429 rate limit, 401/403
   authentication, 5xx external service, 4xx validation...).
5. Built-in message patterns, in rule order.
6. Generic names that say little on their own (``HTTPError``, ``ClientError``,
   ``MaxRetryError``...): they only decide when nothing above did, so that an
   ``HTTPError`` with a 429 response is a rate limit.
7. ``internal``.

This lives in the engine because the engine's retry decision needs it; the diagnosis
package builds on it (and re-exports it) rather than owning a second copy.
"""

from __future__ import annotations

import errno as _errno
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
        for s in self.status:
            if isinstance(s, bool) or not isinstance(s, int | range):
                raise FlowscopeError(
                    f"bad status {s!r} in a classification rule",
                    hint="give HTTP status codes as integers, e.g. status: [429, 503]",
                )

    def matches(self, names: Sequence[str], message: str, status: int | None) -> bool:
        """Whether the rule matches a failure described by these facts."""
        return (
            self.matches_name(names)
            or self.matches_status(status)
            or self.matches_message(message)
        )

    def matches_name(self, names: Sequence[str]) -> bool:
        """Whether one of the rule's exception names is among ``names``."""
        return bool(self.exception) and any(n in names for n in self.exception)

    def matches_status(self, status: int | None) -> bool:
        """Whether the rule names this HTTP status."""
        if status is None:
            return False
        return any((status in s) if isinstance(s, range) else status == s for s in self.status)

    def matches_message(self, message: str) -> bool:
        """Whether the rule's message pattern occurs in ``message``."""
        return bool(self.message and re.search(self.message, message, re.IGNORECASE))


def rule_from_dict(data: Mapping[str, Any]) -> Rule:
    """Build a rule from configuration: ``{category, exception?, message?, status?}``.

    Raises:
        FlowscopeError: The mapping is not a valid rule.
    """
    if not isinstance(data, Mapping) or "category" not in data:
        raise FlowscopeError(
            f"a classification rule must be a mapping with a 'category', got {data!r}",
            hint="write e.g. {category: rate_limit, message: 'quota exceeded'}",
        )
    unknown = sorted(set(data) - {"category", "exception", "message", "status"})
    if unknown:
        raise FlowscopeError(
            f"unknown key(s) {', '.join(map(repr, unknown))} in classification rule {dict(data)!r}",
            hint="a rule has category and any of exception, message, status",
        )
    exc = data.get("exception", ())
    status = data.get("status", ())
    message = data.get("message")
    if message is not None and not isinstance(message, str):
        raise FlowscopeError(
            f"the message of classification rule {dict(data)!r} must be text",
            hint="write a regular expression in quotes",
        )
    if not isinstance(exc, str | list | tuple) or not all(
        isinstance(e, str) for e in ((exc,) if isinstance(exc, str) else exc)
    ):
        raise FlowscopeError(
            f"the exception of classification rule {dict(data)!r} must be a name or a list",
            hint="write e.g. exception: [QuotaError, mylib.Throttled]",
        )
    if not isinstance(status, int | list | tuple):
        raise FlowscopeError(
            f"the status of classification rule {dict(data)!r} must be a code or a list",
            hint="write e.g. status: [429, 503]",
        )
    if not (exc or status or message):
        raise FlowscopeError(
            f"classification rule {dict(data)!r} matches nothing",
            hint="give at least one of exception, message, status",
        )
    return Rule(
        category=str(data["category"]),
        exception=(exc,) if isinstance(exc, str) else tuple(exc),
        message=message,
        status=(status,) if isinstance(status, int) else tuple(status),
    )


#: Built-in rules. Names are tried by MRO position, then statuses, then messages, in this
#: order (see the module docstring).
BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(CANCELLED, exception=("CancelledError", "RunCancelledError", "Cancelled")),
    Rule(TIMEOUT, exception=(
        "TimeoutError", "StepTimeoutError", "Timeout", "ReadTimeout", "ConnectTimeout",
        "TimeoutException", "ReadTimeoutError", "ConnectTimeoutError", "QueryCanceled",
        "DeadlineExceeded", "PoolTimeout", "WriteTimeout", "APITimeoutError",
        "ServerTimeoutError", "ServerSelectionTimeoutError", "NetworkTimeout",
        "ExecutionTimeout", "errno.ETIMEDOUT", "RequestTimeout", "GatewayTimeout",
    ), status=(408, 504),
        message=r"timed out|timeout exceeded|deadline exceeded|statement timeout"),
    Rule(RATE_LIMIT, exception=(
        "RateLimitError", "TooManyRequests", "ThrottlingException", "RateLimitExceeded",
        "RateLimited", "ResourceExhausted", "Throttling", "ThrottledException",
        "RequestLimitExceeded", "ProvisionedThroughputExceededException", "SlowDown",
        "TooManyRequestsException", "LimitExceededException",
    ), status=(429,),
        message=r"too many requests|rate.?limit|throttl|quota exceeded|too many 429"),
    Rule(AUTHENTICATION, exception=(
        "PermissionError", "AuthenticationError", "AuthorizationError", "Unauthorized",
        "Forbidden", "PermissionDenied", "InvalidCredentials", "NotAuthenticated",
        "InsufficientPrivilege", "AccessDenied", "InvalidToken", "ExpiredSignatureError",
        "Unauthenticated", "AccessDeniedException", "UnrecognizedClientException",
        "ExpiredTokenException", "InvalidClientTokenId", "NoCredentialsError",
        "CredentialRetrievalError", "InvalidSignatureException", "AuthError",
        "PermissionDeniedError", "errno.EACCES", "errno.EPERM",
    ), status=(401, 403), message=r"unauthori[sz]ed|forbidden|permission denied|"
                                   r"invalid (api )?(key|token|credentials)|access denied|"
                                   r"authentication failed"),
    Rule(RESOURCE, exception=(
        "MemoryError", "IntegrityError", "DiskFull", "errno.ENOSPC", "errno.EDQUOT",
        "errno.ENOMEM", "errno.EMFILE", "errno.ENFILE", "UniqueViolation",
        "ForeignKeyViolation", "CheckViolation", "NotNullViolation", "ExclusionViolation",
        "OutOfMemoryError", "DeadlockDetected", "LockNotAvailable", "DuplicateKeyError",
        "ConditionalCheckFailedException", "OutOfMemory", "DiskQuotaExceeded",
    ), status=(507, 413),
        message=r"no space left|out of memory|\boom\b|disk (is )?full|constraint|deadlock|"
                r"too many open files|cannot allocate|quota.*storage|duplicate key"),
    Rule(EXTERNAL_SERVICE, exception=(
        "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
        "ConnectionAbortedError", "BrokenPipeError", "ConnectError", "RemoteDisconnected",
        "NewConnectionError", "ProtocolError", "ServiceUnavailable", "OperationalError",
        "InterfaceError", "gaierror", "herror", "ServerError", "BadGateway",
        "ClientConnectorError", "ServerDisconnectedError", "ClientConnectionError",
        "ClientOSError", "TransportError", "NetworkError", "APIConnectionError",
        "ExternalServiceError", "InternalServerError", "ServiceUnavailableError",
        "EndpointConnectionError", "AutoReconnect", "SSLError", "IncompleteRead",
        "ChunkedEncodingError", "ProxyError", "InternalFailure", "InternalError",
        "ServiceUnavailableException", "APIError.5xx", "errno.ECONNREFUSED",
        "errno.ECONNRESET", "errno.EHOSTUNREACH", "errno.ENETUNREACH",
    ), status=(range(500, 600),),
        message=r"connection (refused|reset|aborted)|service unavailable|bad gateway|"
                r"temporarily unavailable|name or service not known|unavailable|"
                r"server (closed|disconnected)|network is unreachable"),
    Rule(VALIDATION, exception=(
        "ValidationError", "ValueError", "AssertionError", "InputError", "DefinitionError",
        "ExpressionError", "InvalidInput", "SchemaError", "BadRequest",
        "UnprocessableEntity", "OutputNotSerializableError", "BadRequestError",
        "UnprocessableEntityError", "ValidationException", "InvalidParameterException",
        "InvalidRequestError", "ParamValidationError", "NotFoundError", "NotFound",
        "ConflictError", "InvalidArgument",
    ), status=(400, 404, 405, 409, 410, 422),
        message=r"invalid (input|argument|parameter)|must be (a|an|one of)|is required"),
    Rule(DATA, exception=(
        "KeyError", "TypeError", "IndexError", "AttributeError", "JSONDecodeError",
        "UnicodeDecodeError", "UnicodeEncodeError", "UnicodeError", "ZeroDivisionError",
        "DecodeError", "ParserError", "LookupError", "ArithmeticError", "OverflowError",
        "DataError", "ScannerError", "YAMLError", "EmptyDataError", "NoResultFound",
        "MultipleResultsFound", "InvalidTextRepresentation", "NumericValueOutOfRange",
        "InvalidDatetimeFormat", "DataException", "InvalidOperation", "ParseError",
        "UnpicklingError", "BadZipFile", "InvalidJSONError",
    ), message=r"expecting value|not valid json|invalid json|unexpected token|"
               r"cannot unpack|unterminated string|invalid literal"),
)

#: Names too generic to decide on their own: used only when nothing more specific did.
GENERIC_RULES: tuple[Rule, ...] = (
    Rule(EXTERNAL_SERVICE, exception=(
        "HTTPError", "HTTPStatusError", "ClientResponseError", "ClientError",
        "APIStatusError", "APIError", "MaxRetryError", "RequestException", "RequestError",
        "HTTPException", "URLError", "WebSocketException", "BotoCoreError",
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


def error_codes_of(exc: BaseException) -> list[str]:
    """Return error codes the exception carries, as extra names more specific than its class.

    Recognised: a botocore-shaped ``response["Error"]["Code"]`` (e.g.
    ``ThrottlingException``) and an ``OSError``'s errno as ``errno.ENOSPC``.
    """
    codes: list[str] = []
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        err = response.get("Error")
        if isinstance(err, Mapping) and isinstance(err.get("Code"), str):
            codes.append(err["Code"])
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        name = _errno.errorcode.get(exc.errno)
        if name:
            codes.append(f"errno.{name}")
    return codes


def status_code_of(exc: BaseException) -> int | None:
    """Return an HTTP status carried by the exception, if it carries one."""
    response = getattr(exc, "response", None)
    meta_status: Any = None
    if isinstance(response, Mapping):  # botocore: response["ResponseMetadata"]
        meta = response.get("ResponseMetadata")
        if isinstance(meta, Mapping):
            meta_status = meta.get("HTTPStatusCode")
    candidates: Iterable[Any] = (
        getattr(exc, "status_code", None),
        getattr(exc, "status", None),
        getattr(response, "status_code", None),
        getattr(response, "status", None),
        meta_status,
        getattr(exc, "code", None),
    )
    for c in candidates:
        if isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599:
            return c
    return None


def _by_name(rules: Sequence[Rule], names: Sequence[str]) -> str | None:
    """Return the category of the first name (most specific first) that a rule lists."""
    for name in names:
        for rule in rules:
            if name in rule.exception:
                return rule.category
    return None


class Classifier:
    """Give a failure a category using user rules first, then the built-in ones.

    Args:
        rules: User rules (``Rule`` objects or their configuration mappings).
    """

    def __init__(self, rules: Iterable[Rule | Mapping[str, Any]] = ()) -> None:
        self.rules: tuple[Rule, ...] = tuple(
            r if isinstance(r, Rule) else rule_from_dict(r) for r in rules
        )

    def classify_parts(
        self, names: Sequence[str], message: str, status: int | None = None
    ) -> str:
        """Classify from stored facts (type and base names, most specific first, message,
        HTTP status)."""
        for rule in self.rules:
            if rule.matches(names, message, status):
                return rule.category
        found = _by_name(BUILTIN_RULES, names)
        if found is not None:
            return found
        for rule in BUILTIN_RULES:
            if rule.matches_status(status):
                return rule.category
        for rule in BUILTIN_RULES:
            if rule.matches_message(message):
                return rule.category
        return _by_name(GENERIC_RULES, names) or INTERNAL

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
        names = [*error_codes_of(exc), *exception_names(exc)]
        return self.classify_parts(names, str(exc), status_code_of(exc))

    def __call__(self, exc: BaseException) -> str:
        return self.classify(exc)


DEFAULT_CLASSIFIER = Classifier()
