"""Assay's Python SDK: register model versions, read the registry, verify the audit trail.

``import assay`` loads ``requests`` and the standard library only; pandas, pyarrow and skops
are imported when a call needs them.
"""

from assay._http import VERSION as __version__
from assay.client import Client, verify_audit_export
from assay.errors import (
    APIConnectionError,
    APITimeoutError,
    AssayError,
    AuthenticationError,
    ConfigurationError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ServerError,
    ValidationError,
)
from assay.types import (
    Artifact,
    AuditEvent,
    AuditVerification,
    CreatedToken,
    FeatureSpec,
    Identity,
    Lineage,
    Model,
    ModelVersion,
    Reference,
    Schema,
    Token,
)

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "Artifact",
    "AssayError",
    "AuditEvent",
    "AuditVerification",
    "AuthenticationError",
    "Client",
    "ConfigurationError",
    "Conflict",
    "CreatedToken",
    "FeatureSpec",
    "Identity",
    "Lineage",
    "Model",
    "ModelVersion",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "Reference",
    "Schema",
    "ServerError",
    "Token",
    "ValidationError",
    "__version__",
    "verify_audit_export",
]
