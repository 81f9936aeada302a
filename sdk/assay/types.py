"""Small frozen dataclasses for what the server returns, each built by ``from_json``.

Timestamps become timezone-aware :class:`~datetime.datetime` objects (a timestamp without an
offset is UTC: :mod:`assay._dates`); lists become tuples so the objects stay immutable; fields
the server adds later are ignored, and a field it should have sent but did not is a
``ServerError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from assay._dates import parse_datetime
from assay._json import FreeForm, JSONObject

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


@dataclass(frozen=True)
class Model:
    """A registered model: its name, task, risk tier, owner and tags; ``classes`` are a
    classifier's classes when they were declared at creation (else None: inferred from each
    version's reference target)."""

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
    classes: tuple[object, ...] | None = None
    #: days the server keeps its predictions (None: for ever)
    retention_days: int | None = None

    @classmethod
    def from_json(cls, data: object) -> Model:
        """Build a Model from the server's JSON."""
        read = JSONObject(data, "a model")
        created_at = read.moment("created_at")
        classes = read.raw("classes")
        return cls(
            id=read.integer("id"),
            name=read.text("name"),
            task=read.text("task"),
            risk_tier=read.text("risk_tier"),
            owner=read.optional_text("owner"),
            description=read.text_or_empty("description"),
            tags=tuple(read.strings("tags")),
            archived=read.flag("archived"),
            archived_at=read.optional_moment("archived_at"),
            latest_version=read.optional_integer("latest_version"),
            created_by=read.optional_text("created_by"),
            created_at=created_at,
            updated_at=read.optional_moment("updated_at") or created_at,
            classes=tuple(classes) if isinstance(classes, list) else None,
            retention_days=read.optional_integer("retention_days"),
        )


@dataclass(frozen=True)
class Artifact:
    """A version's stored model file: content hash, format, size and original file name."""

    sha256: str
    format: str | None
    size_bytes: int
    filename: str | None

    @classmethod
    def from_json(cls, data: object) -> Artifact:
        """Build an Artifact from the server's JSON."""
        read = JSONObject(data, "an artifact")
        return cls(
            sha256=read.text("sha256"),
            format=read.optional_text("format"),
            size_bytes=read.count("size_bytes"),
            filename=read.optional_text("filename"),
        )


@dataclass(frozen=True)
class Reference:
    """A version's reference dataset (the drift baseline): hash, shape and stored size."""

    sha256: str
    rows: int
    columns: int
    size_bytes: int

    @classmethod
    def from_json(cls, data: object) -> Reference:
        """Build a Reference from the server's JSON."""
        read = JSONObject(data, "a reference dataset")
        return cls(
            sha256=read.text("sha256"),
            rows=read.count("rows"),
            columns=read.count("columns"),
            size_bytes=read.count("size_bytes"),
        )


@dataclass(frozen=True)
class FeatureSpec:
    """One column of a version's schema: its name and kind (``numerical`` or ``categorical``)."""

    name: str
    kind: str

    @classmethod
    def from_json(cls, data: object) -> FeatureSpec:
        """Build a FeatureSpec from the server's JSON."""
        read = JSONObject(data, "a feature")
        return cls(name=read.text("name"), kind=read.text("kind"))


def _optional_feature(read: JSONObject | None) -> FeatureSpec | None:
    return FeatureSpec.from_json(read) if read is not None else None


@dataclass(frozen=True)
class Schema:
    """A version's feature schema, with its target and prediction columns when declared."""

    features: tuple[FeatureSpec, ...] = ()
    target: FeatureSpec | None = None
    prediction: FeatureSpec | None = None

    @classmethod
    def from_json(cls, data: object) -> Schema:
        """Build a Schema from the server's JSON (``None`` gives an empty schema)."""
        read = JSONObject(data or {}, "a schema")
        return cls(
            features=tuple(FeatureSpec.from_json(f) for f in read.nested_list("features")),
            target=_optional_feature(read.optional_nested("target")),
            prediction=_optional_feature(read.optional_nested("prediction")),
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
    params: FreeForm = field(default_factory=dict)
    metrics: FreeForm = field(default_factory=dict)
    metadata: FreeForm = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> Lineage:
        """Build a Lineage from the server's JSON (``None`` gives an empty lineage)."""
        read = JSONObject(data or {}, "a lineage")
        return cls(
            dataset_uri=read.optional_text("dataset_uri"),
            dataset_hash=read.optional_text("dataset_hash"),
            git_commit=read.optional_text("git_commit"),
            params=read.free_form("params"),
            metrics=read.free_form("metrics"),
            metadata=read.free_form("metadata"),
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
    model_card: FreeForm
    artifact: Artifact | None
    schema: Schema
    lineage: Lineage
    reference: Reference | None
    created_by: str | None
    created_at: datetime
    stage_changed_at: datetime | None = None
    #: the alert the version was retrained for (``register_version(triggered_by=...)``)
    triggered_by_alert: int | None = None

    @classmethod
    def from_json(cls, data: object) -> ModelVersion:
        """Build a ModelVersion from the server's JSON."""
        read = JSONObject(data, "a model version")
        artifact = read.optional_nested("artifact")
        reference = read.optional_nested("reference")
        trigger = read.optional_nested("triggered_by")
        return cls(
            id=read.integer("id"),
            model=read.text("model"),
            version=read.integer("version"),
            stage=read.optional_text("stage") or "none",
            description=read.text_or_empty("description"),
            tags=tuple(read.strings("tags")),
            model_card=read.free_form("model_card"),
            artifact=Artifact.from_json(artifact) if artifact is not None else None,
            schema=Schema.from_json(read.raw("schema")),
            lineage=Lineage.from_json(read.raw("lineage")),
            reference=Reference.from_json(reference) if reference is not None else None,
            created_by=read.optional_text("created_by"),
            created_at=read.moment("created_at"),
            stage_changed_at=read.optional_moment("stage_changed_at"),
            triggered_by_alert=trigger.optional_integer("alert") if trigger is not None else None,
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
    payload: FreeForm
    prev_hash: str
    hash: str

    @classmethod
    def from_json(cls, data: object) -> AuditEvent:
        """Build an AuditEvent from the server's JSON."""
        read = JSONObject(data, "an audit event")
        return cls(
            seq=read.integer("seq"),
            timestamp=read.moment("timestamp"),
            actor_token_id=read.optional_integer("actor_token_id"),
            actor_name=read.optional_text("actor_name"),
            action=read.text("action"),
            target_type=read.text("target_type"),
            target_id=read.text("target_id"),
            request_id=read.optional_text("request_id"),
            payload=read.free_form("payload"),
            prev_hash=read.text("prev_hash"),
            hash=read.text("hash"),
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
    def from_json(cls, data: object) -> AuditVerification:
        """Build an AuditVerification from the server's JSON."""
        read = JSONObject(data, "an audit verification")
        return cls(
            ok=read.flag("ok"),
            checked=read.count("checked"),
            first_broken_seq=read.optional_integer("first_broken_seq"),
            head_seq=read.optional_integer("head_seq"),
            message=read.text_or_empty("message"),
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
    def from_json(cls, data: object) -> Identity:
        """Build an Identity from the server's JSON."""
        read = JSONObject(data, "an identity")
        return cls(
            token_id=read.optional_integer("token_id"),
            name=read.text("name"),
            role=read.text("role"),
            expires_at=read.optional_moment("expires_at"),
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
    def from_json(cls, data: object) -> Token:
        """Build a Token from the server's JSON."""
        read = JSONObject(data, "a token")
        return cls(
            id=read.integer("id"),
            name=read.text("name"),
            role=read.text("role"),
            display=read.optional_text("display"),
            status=read.optional_text("status"),
            created_by=read.optional_text("created_by"),
            created_at=read.optional_moment("created_at"),
            expires_at=read.optional_moment("expires_at"),
            revoked_at=read.optional_moment("revoked_at"),
        )


@dataclass(frozen=True)
class CreatedToken(Token):
    """A token just created: the only time the server shows its secret (``token``)."""

    token: str = field(default="", repr=False)

    @classmethod
    def from_json(cls, data: object) -> CreatedToken:
        """Build a CreatedToken from the server's JSON."""
        read = JSONObject(data, "a new token")
        base = Token.from_json(read)
        return cls(
            id=base.id,
            name=base.name,
            role=base.role,
            display=base.display,
            status=base.status,
            created_by=base.created_by,
            created_at=base.created_at,
            expires_at=base.expires_at,
            revoked_at=base.revoked_at,
            token=read.text_or_empty("token"),
        )
