"""Small frozen dataclasses for what the server returns, each built by ``from_json``.

Timestamps become timezone-aware :class:`~datetime.datetime` objects; lists become tuples so
the objects stay immutable; fields the server adds later are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "Artifact",
    "AuditEvent",
    "AuditVerification",
    "CreatedToken",
    "FeatureSpec",
    "Identity",
    "Lineage",
    "Model",
    "ModelVersion",
    "Reference",
    "Schema",
    "Token",
    "parse_datetime",
]


def parse_datetime(value: str | datetime | None) -> datetime | None:
    """Parse an ISO 8601 timestamp (``Z`` or an offset) to an aware datetime; naive means UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _required_datetime(value: Any) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError("a required timestamp is missing from the server's answer")
    return parsed


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(str(value) for value in values or ())


@dataclass(frozen=True)
class Model:
    """A registered model: its name, task, risk tier, owner and tags."""

    id: int
    name: str
    task: str
    risk_tier: str
    owner: str | None
    description: str
    tags: tuple[str, ...]
    archived: bool
    archived_at: datetime | None
    latest_version: int | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Model:
        """Build a Model from the server's JSON."""
        return cls(
            id=int(data["id"]),
            name=data["name"],
            task=data["task"],
            risk_tier=data["risk_tier"],
            owner=data.get("owner"),
            description=data.get("description") or "",
            tags=_strings(data.get("tags")),
            archived=bool(data.get("archived", False)),
            archived_at=parse_datetime(data.get("archived_at")),
            latest_version=data.get("latest_version"),
            created_by=data.get("created_by"),
            created_at=_required_datetime(data["created_at"]),
            updated_at=_required_datetime(data.get("updated_at") or data["created_at"]),
        )


@dataclass(frozen=True)
class Artifact:
    """A version's stored model file: content hash, format, size and original file name."""

    sha256: str
    format: str | None
    size_bytes: int
    filename: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Artifact:
        """Build an Artifact from the server's JSON."""
        return cls(
            sha256=data["sha256"],
            format=data.get("format"),
            size_bytes=int(data.get("size_bytes") or 0),
            filename=data.get("filename"),
        )


@dataclass(frozen=True)
class Reference:
    """A version's reference dataset (the drift baseline): hash, shape and stored size."""

    sha256: str
    rows: int
    columns: int
    size_bytes: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reference:
        """Build a Reference from the server's JSON."""
        return cls(
            sha256=data["sha256"],
            rows=int(data.get("rows") or 0),
            columns=int(data.get("columns") or 0),
            size_bytes=int(data.get("size_bytes") or 0),
        )


@dataclass(frozen=True)
class FeatureSpec:
    """One column of a version's schema: its name and kind (``numerical`` or ``categorical``)."""

    name: str
    kind: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Build a FeatureSpec from the server's JSON."""
        return cls(name=data["name"], kind=data["kind"])


def _optional_feature(data: Mapping[str, Any] | None) -> FeatureSpec | None:
    return FeatureSpec.from_json(data) if data else None


@dataclass(frozen=True)
class Schema:
    """A version's feature schema, with its target and prediction columns when declared."""

    features: tuple[FeatureSpec, ...] = ()
    target: FeatureSpec | None = None
    prediction: FeatureSpec | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Schema:
        """Build a Schema from the server's JSON (``None`` gives an empty schema)."""
        data = data or {}
        return cls(
            features=tuple(FeatureSpec.from_json(f) for f in data.get("features") or ()),
            target=_optional_feature(data.get("target")),
            prediction=_optional_feature(data.get("prediction")),
        )

    @property
    def feature_names(self) -> list[str]:
        """The feature names, in schema order."""
        return [feature.name for feature in self.features]


@dataclass(frozen=True)
class Lineage:
    """Where a version came from: dataset, commit, training parameters and metrics."""

    dataset_uri: str | None = None
    dataset_hash: str | None = None
    git_commit: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Lineage:
        """Build a Lineage from the server's JSON (``None`` gives an empty lineage)."""
        data = data or {}
        return cls(
            dataset_uri=data.get("dataset_uri"),
            dataset_hash=data.get("dataset_hash"),
            git_commit=data.get("git_commit"),
            params=dict(data.get("params") or {}),
            metrics=dict(data.get("metrics") or {}),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class ModelVersion:
    """One immutable registered version of a model, with its stage and evidence."""

    id: int
    model: str
    version: int
    stage: str
    description: str
    tags: tuple[str, ...]
    model_card: dict[str, Any]
    artifact: Artifact | None
    schema: Schema
    lineage: Lineage
    reference: Reference | None
    created_by: str | None
    created_at: datetime
    stage_changed_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelVersion:
        """Build a ModelVersion from the server's JSON."""
        artifact = data.get("artifact")
        reference = data.get("reference")
        return cls(
            id=int(data["id"]),
            model=data["model"],
            version=int(data["version"]),
            stage=data.get("stage") or "none",
            description=data.get("description") or "",
            tags=_strings(data.get("tags")),
            model_card=dict(data.get("model_card") or {}),
            artifact=Artifact.from_json(artifact) if artifact else None,
            schema=Schema.from_json(data.get("schema")),
            lineage=Lineage.from_json(data.get("lineage")),
            reference=Reference.from_json(reference) if reference else None,
            created_by=data.get("created_by"),
            created_at=_required_datetime(data["created_at"]),
            stage_changed_at=parse_datetime(data.get("stage_changed_at")),
        )


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the hash-chained audit trail: who did what to which target, and when."""

    seq: int
    timestamp: datetime
    actor_token_id: int | None
    actor_name: str | None
    action: str
    target_type: str
    target_id: str
    request_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditEvent:
        """Build an AuditEvent from the server's JSON."""
        return cls(
            seq=int(data["seq"]),
            timestamp=_required_datetime(data["timestamp"]),
            actor_token_id=data.get("actor_token_id"),
            actor_name=data.get("actor_name"),
            action=data["action"],
            target_type=data["target_type"],
            target_id=str(data["target_id"]),
            request_id=data.get("request_id"),
            payload=dict(data.get("payload") or {}),
            prev_hash=data["prev_hash"],
            hash=data["hash"],
        )


@dataclass(frozen=True)
class AuditVerification:
    """The result of recomputing the audit chain: ``ok``, events checked, where it broke."""

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    head_seq: int | None = None
    message: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditVerification:
        """Build an AuditVerification from the server's JSON."""
        return cls(
            ok=bool(data["ok"]),
            checked=int(data.get("checked") or 0),
            first_broken_seq=data.get("first_broken_seq"),
            head_seq=data.get("head_seq"),
            message=data.get("message") or "",
        )

    def __bool__(self) -> bool:
        """True when the chain is intact."""
        return self.ok


@dataclass(frozen=True)
class Identity:
    """The token the client is calling with: its id, name, role and expiry."""

    token_id: int | None
    name: str
    role: str
    expires_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Identity:
        """Build an Identity from the server's JSON."""
        token_id = data.get("token_id")
        return cls(
            token_id=None if token_id is None else int(token_id),
            name=data["name"],
            role=data["role"],
            expires_at=parse_datetime(data.get("expires_at")),
        )


@dataclass(frozen=True)
class Token:
    """An API token as the server lists it: never the secret, only how to recognise it."""

    id: int
    name: str
    role: str
    display: str | None = None
    status: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """True once the token has been revoked."""
        return self.revoked_at is not None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Token:
        """Build a Token from the server's JSON."""
        return cls(**_token_fields(data))


def _token_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": int(data["id"]),
        "name": data["name"],
        "role": data["role"],
        "display": data.get("display"),
        "status": data.get("status"),
        "created_by": data.get("created_by"),
        "created_at": parse_datetime(data.get("created_at")),
        "expires_at": parse_datetime(data.get("expires_at")),
        "revoked_at": parse_datetime(data.get("revoked_at")),
    }


@dataclass(frozen=True)
class CreatedToken(Token):
    """A token just created: the only time the server shows its secret (``token``)."""

    token: str = field(default="", repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CreatedToken:
        """Build a CreatedToken from the server's JSON."""
        return cls(**_token_fields(data), token=data.get("token") or "")
