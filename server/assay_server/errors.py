"""Domain exceptions: what services raise. They know nothing of HTTP; each carries the
``code`` and ``status`` that ``http_errors`` answers it with.
"""

from __future__ import annotations

from typing import Any


class AssayError(Exception):
    """Base of the domain errors: a machine-readable ``code``, an HTTP ``status``, details."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(AssayError):
    """The request could not be read (malformed JSON or multipart)."""

    code, status = "bad_request", 400


class AuthenticationRequired(AssayError):
    """No valid token: missing, unknown, expired or revoked."""

    code, status = "unauthenticated", 401


class PermissionDenied(AssayError):
    """The caller is known but may not do this."""

    code, status = "permission_denied", 403


class NotFound(AssayError):
    """The named thing does not exist."""

    code, status = "not_found", 404


class Conflict(AssayError):
    """The change clashes with what is stored (a duplicate name, an archived model)."""

    code, status = "conflict", 409


class PayloadTooLarge(AssayError):
    """A body or an upload is over its size limit."""

    code, status = "payload_too_large", 413


class ValidationFailed(AssayError):
    """Input is well-formed but wrong; ``details`` maps each field to its messages."""

    code, status = "validation_error", 422


class Unavailable(AssayError):
    """A dependency (the database) cannot be reached."""

    code, status = "unavailable", 503
