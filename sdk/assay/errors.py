"""The SDK's exceptions: one class per kind of server error, all under :class:`AssayError`.

The server answers every error with ``{"error": {"code", "message", "details", "request_id"}}``;
:func:`error_from_response` is the one place that turns such an answer into an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AssayError",
    "AuthenticationError",
    "ConfigurationError",
    "Conflict",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "ServerError",
    "ValidationError",
    "error_from_response",
]


class AssayError(Exception):
    """Base class of every error the SDK raises; carries what the server said about it."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details: dict[str, Any] = dict(details or {})
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        context = [str(part) for part in (self.status, self.code) if part is not None]
        if self.request_id:
            context.append(f"request id {self.request_id}")
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, code={self.code!r}, "
            f"status={self.status!r}, request_id={self.request_id!r})"
        )


class ConfigurationError(AssayError, ValueError):
    """The client is missing its URL or token, or was given an unusable one."""


class AuthenticationError(AssayError):
    """401: the token is missing, unknown, expired or revoked."""


class PermissionDenied(AssayError):
    """403: the token's role may not do this."""


class NotFound(AssayError):
    """404: no such model, version, token or route."""


class Conflict(AssayError):
    """409: the name exists already, or the model is archived."""


class ValidationError(AssayError):
    """422 or 400: the request was malformed; ``details`` maps each field to its messages,
    and ``str()`` shows the first few of them after the message."""

    SHOWN_FIELDS = 3

    def __str__(self) -> str:
        reasons = [
            f"{field}: {message}" if field else message
            for field, message in _field_messages(self.details, "")
            if f"{field}: {message}" not in self.message
        ]
        if not reasons:
            return super().__str__()
        shown = "; ".join(reasons[: self.SHOWN_FIELDS])
        more = len(reasons) - self.SHOWN_FIELDS
        if more > 0:
            shown += f"; and {more} more in .details"
        return f"{super().__str__()} — {shown}"


def _field_messages(details: Any, prefix: str) -> list[tuple[str, str]]:
    """``(field, message)`` pairs of nested marshmallow-style details, in order."""
    if isinstance(details, Mapping):
        pairs = []
        for key, value in details.items():
            name = str(key)
            field = prefix if name.startswith("_") else f"{prefix}.{name}" if prefix else name
            pairs.extend(_field_messages(value, field))
        return pairs
    if isinstance(details, (list, tuple)):
        return [pair for item in details for pair in _field_messages(item, prefix)]
    return [(prefix, str(details))]


class PayloadTooLarge(AssayError):
    """413: the body or the artifact is over the server's size limit."""


class ServerError(AssayError):
    """5xx: the server failed; quote the request id when reporting it."""


class APIConnectionError(AssayError):
    """The server could not be reached, or the connection broke mid-answer."""


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's timeout."""


_BY_CODE: dict[str, type[AssayError]] = {
    "bad_request": ValidationError,
    "validation_error": ValidationError,
    "unauthenticated": AuthenticationError,
    "permission_denied": PermissionDenied,
    "not_found": NotFound,
    "conflict": Conflict,
    "payload_too_large": PayloadTooLarge,
    "internal_error": ServerError,
    "unavailable": ServerError,
}

_BY_STATUS: dict[int, type[AssayError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationError,
}


def error_from_response(
    status: int, body: object, *, request_id: str | None = None, reason: str = ""
) -> AssayError:
    """Build the exception for an error answer from its status and decoded JSON ``body``.

    The server's ``error.code`` picks the class; the status decides when the code is unknown
    or the body is not the server's error shape (a proxy's HTML page, say).
    """
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        error = {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message") or reason or f"HTTP {status}"
    details = error.get("details") if isinstance(error.get("details"), Mapping) else None
    request_id = error.get("request_id") or request_id
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else AssayError
    return cls(str(message), code=code, details=details, status=status, request_id=request_id)
