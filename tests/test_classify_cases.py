"""Classification of real-world exception shapes, recreated by name (no library needed)."""

from __future__ import annotations

import asyncio
import errno
import json
from typing import Any

import pytest

from flowscope.engine.classify import (
    BUILTIN_RULES,
    DEFAULT_CLASSIFIER,
    Classifier,
    Rule,
    rule_from_dict,
    status_code_of,
)
from flowscope.errors import FlowscopeError, StepTimeoutError


def cls(name: str, *bases: type, module: str = "lib") -> type:
    """A class named like a library's exception, with the same base-class names."""
    return type(name, bases or (Exception,), {"__module__": module})


class Resp:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


# requests
RequestException = cls("RequestException", OSError, module="requests.exceptions")
RequestsHTTPError = cls("HTTPError", RequestException, module="requests.exceptions")
RequestsConnectionError = cls("ConnectionError", RequestException, module="requests.exceptions")
RequestsTimeout = cls("Timeout", RequestException, module="requests.exceptions")
RequestsReadTimeout = cls("ReadTimeout", RequestsTimeout, module="requests.exceptions")
RequestsConnectTimeout = cls("ConnectTimeout", RequestsConnectionError, RequestsTimeout,
                             module="requests.exceptions")
# httpx
HttpxHTTPError = cls("HTTPError", module="httpx")
HttpxTransportError = cls("TransportError", HttpxHTTPError, module="httpx")
HttpxConnectError = cls("ConnectError", cls("NetworkError", HttpxTransportError, module="httpx"),
                        module="httpx")
HttpxReadTimeout = cls("ReadTimeout", cls("TimeoutException", HttpxTransportError,
                                          module="httpx"), module="httpx")
HttpxStatusError = cls("HTTPStatusError", HttpxHTTPError, module="httpx")
HttpxRemoteProtocolError = cls("RemoteProtocolError",
                               cls("ProtocolError", HttpxTransportError, module="httpx"),
                               module="httpx")
# urllib3
Urllib3HTTPError = cls("HTTPError", module="urllib3.exceptions")
MaxRetryError = cls("MaxRetryError", Urllib3HTTPError, module="urllib3.exceptions")
NewConnectionError = cls("NewConnectionError", Urllib3HTTPError, module="urllib3.exceptions")
Urllib3ReadTimeoutError = cls("ReadTimeoutError", Urllib3HTTPError, module="urllib3.exceptions")
# aiohttp
ClientError = cls("ClientError", module="aiohttp.client_exceptions")
ClientResponseError = cls("ClientResponseError", ClientError, module="aiohttp.client_exceptions")
ClientConnectorError = cls("ClientConnectorError",
                           cls("ClientOSError", ClientError, OSError, module="aiohttp"),
                           module="aiohttp.client_exceptions")
ServerTimeoutError = cls("ServerTimeoutError", ClientError, TimeoutError, module="aiohttp")
# psycopg
PgError = cls("Error", module="psycopg")
PgDatabaseError = cls("DatabaseError", PgError, module="psycopg")
PgIntegrityError = cls("IntegrityError", PgDatabaseError, module="psycopg")
UniqueViolation = cls("UniqueViolation", PgIntegrityError, module="psycopg.errors")
PgOperationalError = cls("OperationalError", PgDatabaseError, module="psycopg")
QueryCanceled = cls("QueryCanceled", PgOperationalError, module="psycopg.errors")
InsufficientPrivilege = cls("InsufficientPrivilege", PgDatabaseError, module="psycopg.errors")
PgDataError = cls("DataError", PgDatabaseError, module="psycopg")
DiskFull = cls("DiskFull", PgOperationalError, module="psycopg.errors")
# sqlalchemy
SAError = cls("SQLAlchemyError", module="sqlalchemy.exc")
DBAPIError = cls("DBAPIError", SAError, module="sqlalchemy.exc")
SAIntegrityError = cls("IntegrityError", DBAPIError, module="sqlalchemy.exc")
SAOperationalError = cls("OperationalError", DBAPIError, module="sqlalchemy.exc")
SATimeoutError = cls("TimeoutError", SAError, module="sqlalchemy.exc")
NoResultFound = cls("NoResultFound", SAError, module="sqlalchemy.exc")
# botocore
BotoCoreError = cls("BotoCoreError", module="botocore.exceptions")
BotoClientError = cls("ClientError", module="botocore.exceptions")
EndpointConnectionError = cls("EndpointConnectionError",
                              cls("ConnectionError", BotoCoreError, module="botocore.exceptions"),
                              module="botocore.exceptions")
NoCredentialsError = cls("NoCredentialsError", BotoCoreError, module="botocore.exceptions")
# openai
OpenAIError = cls("OpenAIError", module="openai")
APIError = cls("APIError", OpenAIError, module="openai")
APIStatusError = cls("APIStatusError", APIError, module="openai")
APIConnectionError = cls("APIConnectionError", APIError, module="openai")
APITimeoutError = cls("APITimeoutError", APIConnectionError, module="openai")
OpenAIRateLimitError = cls("RateLimitError", APIStatusError, module="openai")
OpenAIAuthError = cls("AuthenticationError", APIStatusError, module="openai")
OpenAIBadRequest = cls("BadRequestError", APIStatusError, module="openai")
# others
PydanticValidationError = cls("ValidationError", ValueError, module="pydantic_core")
SSLCertVerificationError = cls("SSLCertVerificationError",
                               cls("SSLError", OSError, module="ssl"), ValueError, module="ssl")


def with_(exc: BaseException, **attrs: Any) -> BaseException:
    for k, v in attrs.items():
        setattr(exc, k, v)
    return exc


def boto(code: str, status: int, message: str) -> BaseException:
    return with_(BotoClientError(f"An error occurred ({code}) when calling the Op: {message}"),
                 response={"Error": {"Code": code, "Message": message},
                           "ResponseMetadata": {"HTTPStatusCode": status}})


def json_error() -> BaseException:
    try:
        json.loads("{not json")
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


CASES: list[tuple[str, BaseException, str]] = [
    # builtins
    ("KeyError", KeyError("email"), "data"),
    ("TypeError", TypeError("unsupported operand type(s) for +: 'int' and 'str'"), "data"),
    ("IndexError", IndexError("list index out of range"), "data"),
    ("AttributeError", AttributeError("'NoneType' object has no attribute 'id'"), "data"),
    ("ZeroDivisionError", ZeroDivisionError("division by zero"), "data"),
    ("JSONDecodeError is data, not validation", json_error(), "data"),
    ("UnicodeDecodeError", UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
     "data"),
    ("ValueError", ValueError("amount must be positive"), "validation"),
    ("AssertionError", AssertionError("bad state"), "validation"),
    ("TimeoutError", TimeoutError("timed out"), "timeout"),
    ("asyncio.TimeoutError", TimeoutError(), "timeout"),
    ("ConnectionRefusedError", ConnectionRefusedError(111, "Connection refused"),
     "external_service"),
    ("ConnectionResetError", ConnectionResetError("peer reset"), "external_service"),
    ("BrokenPipeError", BrokenPipeError("broken pipe"), "external_service"),
    ("PermissionError", PermissionError(13, "Permission denied"), "authentication"),
    ("MemoryError", MemoryError(), "resource"),
    ("OSError ENOSPC", OSError(errno.ENOSPC, "No space left on device"), "resource"),
    ("CancelledError", asyncio.CancelledError(), "cancelled"),
    ("RuntimeError", RuntimeError("something odd"), "internal"),
    ("NotImplementedError", NotImplementedError(), "internal"),
    ("plain message too many requests", Exception("Too Many Requests, slow down"), "rate_limit"),
    ("plain message unique constraint", Exception("UNIQUE constraint failed: u.email"),
     "resource"),
    ("StepTimeoutError", StepTimeoutError("s", 1.0), "timeout"),
    # requests
    ("requests HTTPError 429", with_(RequestsHTTPError("429 Client Error"), response=Resp(429)),
     "rate_limit"),
    ("requests HTTPError 503", with_(RequestsHTTPError("503 Server Error"), response=Resp(503)),
     "external_service"),
    ("requests HTTPError 401", with_(RequestsHTTPError("401 Client Error"), response=Resp(401)),
     "authentication"),
    ("requests HTTPError 403", with_(RequestsHTTPError("403 Client Error"), response=Resp(403)),
     "authentication"),
    ("requests HTTPError 422", with_(RequestsHTTPError("422 Client Error"), response=Resp(422)),
     "validation"),
    ("requests HTTPError 504", with_(RequestsHTTPError("504 Gateway"), response=Resp(504)),
     "timeout"),
    ("requests ConnectionError", RequestsConnectionError("Max retries exceeded"),
     "external_service"),
    ("requests ReadTimeout", RequestsReadTimeout("Read timed out."), "timeout"),
    ("requests ConnectTimeout", RequestsConnectTimeout("connect timed out"), "timeout"),
    # httpx
    ("httpx ConnectError", HttpxConnectError("[Errno 111] Connection refused"),
     "external_service"),
    ("httpx ReadTimeout", HttpxReadTimeout(""), "timeout"),
    ("httpx HTTPStatusError 429", with_(HttpxStatusError("Client error '429'"),
                                        response=Resp(429)), "rate_limit"),
    ("httpx HTTPStatusError 500", with_(HttpxStatusError("Server error '500'"),
                                        response=Resp(500)), "external_service"),
    ("httpx RemoteProtocolError", HttpxRemoteProtocolError("Server disconnected"),
     "external_service"),
    # urllib3
    ("urllib3 NewConnectionError", NewConnectionError("Failed to establish a new connection"),
     "external_service"),
    ("urllib3 MaxRetryError 429s", MaxRetryError("Max retries exceeded (too many 429 error "
                                                 "responses)"), "rate_limit"),
    ("urllib3 MaxRetryError refused", MaxRetryError("Max retries exceeded (Caused by "
                                                    "NewConnectionError: Connection refused)"),
     "external_service"),
    ("urllib3 ReadTimeoutError", Urllib3ReadTimeoutError("Read timed out"), "timeout"),
    # aiohttp
    ("aiohttp ClientResponseError 429", with_(ClientResponseError("Too Many"), status=429),
     "rate_limit"),
    ("aiohttp ClientResponseError 502", with_(ClientResponseError("Bad"), status=502),
     "external_service"),
    ("aiohttp ClientConnectorError", ClientConnectorError("Cannot connect to host"),
     "external_service"),
    ("aiohttp ServerTimeoutError", ServerTimeoutError("Timeout on reading data"), "timeout"),
    # psycopg
    ("psycopg UniqueViolation", UniqueViolation("duplicate key value violates unique "
                                                "constraint \"users_pkey\""), "resource"),
    ("psycopg IntegrityError", PgIntegrityError("null value in column"), "resource"),
    ("psycopg OperationalError", PgOperationalError("connection failed"), "external_service"),
    ("psycopg QueryCanceled", QueryCanceled("canceling statement due to statement timeout"),
     "timeout"),
    ("psycopg InsufficientPrivilege", InsufficientPrivilege("permission denied for table t"),
     "authentication"),
    ("psycopg DataError", PgDataError("invalid input syntax for type integer"), "data"),
    ("psycopg DiskFull", DiskFull("could not extend file"), "resource"),
    # sqlalchemy
    ("sqlalchemy IntegrityError", SAIntegrityError("(psycopg.errors.UniqueViolation) dup"),
     "resource"),
    ("sqlalchemy OperationalError", SAOperationalError("could not connect to server"),
     "external_service"),
    ("sqlalchemy TimeoutError", SATimeoutError("QueuePool limit reached"), "timeout"),
    ("sqlalchemy NoResultFound", NoResultFound("No row was found"), "data"),
    # botocore
    ("botocore ThrottlingException", boto("ThrottlingException", 400, "Rate exceeded"),
     "rate_limit"),
    ("botocore AccessDenied", boto("AccessDeniedException", 403, "not authorized"),
     "authentication"),
    ("botocore ValidationException", boto("ValidationException", 400, "bad value"),
     "validation"),
    ("botocore 503 unknown code", boto("SomethingOdd", 503, "try later"), "external_service"),
    ("botocore EndpointConnectionError", EndpointConnectionError("Could not connect"),
     "external_service"),
    ("botocore NoCredentialsError", NoCredentialsError("Unable to locate credentials"),
     "authentication"),
    # openai
    ("openai RateLimitError", with_(OpenAIRateLimitError("Rate limit reached"), status_code=429),
     "rate_limit"),
    ("openai AuthenticationError", with_(OpenAIAuthError("Incorrect API key"), status_code=401),
     "authentication"),
    ("openai BadRequestError", with_(OpenAIBadRequest("maximum context length"),
                                     status_code=400), "validation"),
    ("openai APIStatusError 500", with_(APIStatusError("Internal error"), status_code=500),
     "external_service"),
    ("openai APITimeoutError", APITimeoutError("Request timed out."), "timeout"),
    ("openai APIConnectionError", APIConnectionError("Connection error."), "external_service"),
    # others
    ("pydantic ValidationError", PydanticValidationError("1 validation error"), "validation"),
    ("ssl certificate error", SSLCertVerificationError("certificate verify failed"),
     "external_service"),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(("exc", "expected"), [(e, c) for _, e, c in CASES],
                         ids=[n for n, _, _ in CASES])
def test_builtin_classification(exc: BaseException, expected: str) -> None:
    assert DEFAULT_CLASSIFIER(exc) == expected


def test_user_rules_win_over_builtin_ones() -> None:
    classifier = Classifier([{"category": "rate_limit", "message": "quota"},
                             {"category": "validation", "exception": "HTTPError"}])
    assert classifier(ValueError("monthly quota used up")) == "rate_limit"
    assert classifier(with_(RequestsHTTPError("x"), response=Resp(503))) == "validation"
    assert classifier(KeyError("k")) == "data"


def test_status_code_from_several_shapes() -> None:
    assert status_code_of(with_(Exception(), status_code=429)) == 429
    assert status_code_of(with_(Exception(), response=Resp(502))) == 502
    assert status_code_of(boto("X", 404, "m")) == 404
    assert status_code_of(with_(Exception(), status_code=True)) is None
    assert status_code_of(with_(Exception(), code=7)) is None


def test_classify_parts_orders_names_by_mro() -> None:
    names = ["JSONDecodeError", "json.decoder.JSONDecodeError", "ValueError", "Exception"]
    assert DEFAULT_CLASSIFIER.classify_parts(names, "Expecting value") == "data"
    assert DEFAULT_CLASSIFIER.classify_parts(["HTTPError"], "x", 429) == "rate_limit"
    assert DEFAULT_CLASSIFIER.classify_parts(["HTTPError"], "x", None) == "external_service"
    assert DEFAULT_CLASSIFIER.classify_parts(["Exception"], "nothing known") == "internal"


@pytest.mark.parametrize("bad", [
    {"exception": "X"}, {"category": "nope", "exception": "X"},
    {"category": "data"}, {"category": "data", "message": "("},
    {"category": "data", "colour": "red"}, {"category": "data", "status": "429"},
    {"category": "data", "exception": [1]}, "not a mapping",
])
def test_bad_rules_are_refused_with_a_hint(bad: Any) -> None:
    with pytest.raises(FlowscopeError):
        rule_from_dict(bad)


def test_every_builtin_rule_names_a_known_category() -> None:
    assert all(isinstance(r, Rule) for r in BUILTIN_RULES)
    assert rule_from_dict({"category": "timeout", "status": [599]}).status == (599,)
