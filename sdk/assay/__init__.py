"""Assay's Python SDK: register model versions, read the registry, verify the audit trail.

``import assay`` loads ``requests`` and the standard library only; pandas, pyarrow and skops
are imported when a call needs them.
"""

from assay import webhooks
from assay._aliases import Alias, AliasStay
from assay._http import VERSION as __version__
from assay.alerts import Alert, AlertChange, Channel, Delivery
from assay.audit import verify_audit_export
from assay.client import Client
from assay.comparisons import Comparison, SampleSize, Traffic
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
from assay.explanations import Explanation, FeatureWeight, GlobalExplanation
from assay.governance import (
    AppliedPolicy,
    Benchmark,
    GateStatus,
    Leaderboard,
    Policy,
    PolicyVersion,
    PromotionRequest,
    RuleResult,
    StageHistoryEntry,
    evaluate,
)
from assay.logger import DeliveryError, PredictionLogger, init, log_label, log_prediction
from assay.monitoring import Monitor, MonitorRun, Report
from assay.rollouts import (
    GateCheck,
    Rollout,
    RolloutAdvance,
    RolloutEvent,
    RolloutGate,
    RolloutStatus,
    RolloutStep,
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
    "Alert",
    "AlertChange",
    "Alias",
    "AliasStay",
    "AppliedPolicy",
    "Artifact",
    "AssayError",
    "AuditEvent",
    "AuditVerification",
    "AuthenticationError",
    "Benchmark",
    "Channel",
    "Client",
    "Comparison",
    "ConfigurationError",
    "Conflict",
    "CreatedToken",
    "Delivery",
    "DeliveryError",
    "Explanation",
    "FeatureSpec",
    "FeatureWeight",
    "GateCheck",
    "GateStatus",
    "GlobalExplanation",
    "Identity",
    "Leaderboard",
    "Lineage",
    "Model",
    "ModelVersion",
    "Monitor",
    "MonitorRun",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "Policy",
    "PolicyVersion",
    "PredictionLogger",
    "PromotionRequest",
    "Reference",
    "Report",
    "Rollout",
    "RolloutAdvance",
    "RolloutEvent",
    "RolloutGate",
    "RolloutStatus",
    "RolloutStep",
    "RuleResult",
    "SampleSize",
    "Schema",
    "ServerError",
    "StageHistoryEntry",
    "Token",
    "Traffic",
    "ValidationError",
    "__version__",
    "evaluate",
    "init",
    "log_label",
    "log_prediction",
    "verify_audit_export",
    "webhooks",
]
