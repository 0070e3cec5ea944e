"""A request's failure as TF Serving reports it: a canonical status code and TF Serving's message.

The codes are ``tensorflow::error::Code`` (gRPC's); :data:`HTTP_STATUS` is TF Serving's ``ToHTTPStatusCode``
table (``model_servers/http_server.cc``), so REST clients see the HTTP codes TF Serving sends.
"""

from __future__ import annotations

from torchestimator.errors import FeatureError, InputError, InvalidArgumentError

__all__ = ["CODES", "HTTP_STATUS", "ServingError", "status_from_exception"]

CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}

HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A failed request: ``code`` (a key of :data:`CODES`) and TF Serving's message.

    It never leaves the server: REST answers ``{"error": message}`` with ``HTTP_STATUS[code]``, gRPC aborts
    the call with ``code``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """TF Serving's HTTP status for this code."""
        return HTTP_STATUS[self.code]


def status_from_exception(err: BaseException) -> ServingError:
    """Map an exception raised while serving to a :class:`ServingError` (bad input -> INVALID_ARGUMENT)."""
    if isinstance(err, ServingError):
        return err
    if isinstance(
        err, (InvalidArgumentError, FeatureError, InputError, ValueError, TypeError, KeyError, OverflowError)
    ):
        return ServingError("INVALID_ARGUMENT", str(err))
    return ServingError("INTERNAL", f"{type(err).__name__}: {err}")
