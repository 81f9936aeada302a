"""Request and response shapes of governance: policies, promotions, the gate, history."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypedDict

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from ..registry.aliases import ALIAS_PATTERN, ALIAS_RULE
from ..registry.models import Stage
from ..schemas import PageArgsSchema, PageSchema, StrictSchema, Timestamp, not_blank, stored_id
from .models import PromotionStatus

if TYPE_CHECKING:
    from typing_extensions import NotRequired

TARGET_STAGE = validate.OneOf([Stage.STAGING.value, Stage.PRODUCTION.value])
ANY_STAGE = validate.OneOf([s.value for s in Stage])


class PolicyFileSchema(StrictSchema):
    """One policy file's name and YAML text."""

    filename = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\Z", error="A plain file name, no directories."
        ),
    )
    content = fields.String(required=True, validate=validate.Length(min=1, max=256 * 1024))


class PolicyFileArgs(TypedDict):
    """What :class:`PolicyFileSchema` loads."""

    filename: str
    content: str


class PolicyApplySchema(StrictSchema):
    """Policy files to apply: each new or changed policy becomes a new version."""

    files = fields.List(
        fields.Nested(PolicyFileSchema), required=True, validate=validate.Length(min=1, max=100)
    )


class PolicyApplyArgs(TypedDict):
    """What :class:`PolicyApplySchema` loads."""

    files: list[PolicyFileArgs]


class AppliedPolicySchema(StrictSchema):
    """What applying one file did."""

    name = fields.String()
    version = fields.Integer()
    status = fields.String()
    filename = fields.String()
    sha256 = fields.String()


class PolicyApplyResultSchema(StrictSchema):
    """What applying the files did."""

    applied = fields.List(fields.Nested(AppliedPolicySchema))


class PolicyVersionSchema(StrictSchema):
    """One version of a policy: the YAML as applied and the validated document."""

    name = fields.String()
    version = fields.Integer()
    sha256 = fields.String()
    filename = fields.String()
    source = fields.String()
    document = fields.Dict()
    created_by = fields.String()
    created_at = Timestamp()


class PolicySchema(StrictSchema):
    """A policy and the version in force."""

    name = fields.String()
    description = fields.String()
    current_version = fields.Integer()
    current = fields.Nested(PolicyVersionSchema)
    created_at = Timestamp()
    updated_at = Timestamp()


class PromotionCreateSchema(StrictSchema):
    """A request to move a version to a stage, or to point a governed alias at it: give
    ``stage`` or ``alias``, not both."""

    stage = fields.String(validate=TARGET_STAGE)
    alias = fields.String(
        validate=validate.Regexp(ALIAS_PATTERN, error=ALIAS_RULE),
        metadata={"description": "A governed alias to point at the version, instead of a stage."},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=5000))
    rollout = fields.Boolean(
        load_default=False,
        metadata={
            "description": "To production: once approved, the version waits for a phased "
            "rollout (POST /models/{name}/rollouts) instead of moving at once."
        },
    )

    @validates_schema
    def _stage_or_alias(self, data: dict[str, object], **_: object) -> None:
        if ("stage" in data) == ("alias" in data):
            raise ValidationError("Give a stage or an alias, not both.", field_name="stage")


class PromotionCreateArgs(TypedDict):
    """What :class:`PromotionCreateSchema` loads."""

    stage: NotRequired[str]
    alias: NotRequired[str]
    reason: str
    rollout: bool


class DecisionArgsSchema(StrictSchema):
    """An approval's (optional) comment."""

    comment = fields.String(load_default="", validate=validate.Length(max=5000))


class RejectArgsSchema(StrictSchema):
    """A rejection and why."""

    comment = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=5000),
            not_blank("Say why the promotion is rejected."),
        ],
    )


class DecisionArgs(TypedDict):
    """What :class:`DecisionArgsSchema` and :class:`RejectArgsSchema` load."""

    comment: str


class DecisionSchema(StrictSchema):
    """One approver's decision."""

    approver = fields.String()
    decision = fields.String()
    comment = fields.String()
    created_at = Timestamp()


class PromotionSchema(StrictSchema):
    """A promotion request, its latest evaluation and its decisions."""

    id = fields.Integer()
    model = fields.String(attribute="model_name")
    version = fields.Integer(attribute="version_number")
    stage = fields.String(allow_none=True)
    alias = fields.String(allow_none=True)
    target = fields.String()
    reason = fields.String()
    status = fields.String()
    required_approvals = fields.Integer()
    approvals = fields.Integer()
    requested_by = fields.String()
    created_at = Timestamp()
    updated_at = Timestamp()
    decided_at = Timestamp(allow_none=True)
    rollout = fields.Boolean()
    failing_rules = fields.List(fields.Dict())
    evaluation = fields.Dict()
    decisions = fields.List(fields.Nested(DecisionSchema))


class PromotionPageSchema(PageSchema):
    """A page of promotion requests."""

    items = fields.List(fields.Nested(PromotionSchema))


class PromotionListArgsSchema(PageArgsSchema):
    """Filters of the promotion list."""

    model = fields.String(validate=validate.Length(min=1, max=100))
    version = stored_id()
    stage = fields.String(validate=TARGET_STAGE)
    alias = fields.String(
        validate=validate.Regexp(ALIAS_PATTERN, error=ALIAS_RULE),
        metadata={"description": "Only the requests to point this governed alias."},
    )
    status = fields.String(validate=validate.OneOf([s.value for s in PromotionStatus]))


class PromotionListArgs(TypedDict):
    """What :class:`PromotionListArgsSchema` loads."""

    model: NotRequired[str]
    version: NotRequired[int]
    stage: NotRequired[str]
    alias: NotRequired[str]
    status: NotRequired[str]
    page: int
    limit: int


class EvaluationRecordSchema(StrictSchema):
    """One stored evaluation of a request."""

    id = fields.Integer()
    trigger = fields.String()
    outcome = fields.String()
    result = fields.Dict()
    created_by = fields.String()
    created_at = Timestamp()


class StageHistoryArgsSchema(StrictSchema):
    """``at``: what held each stage at that instant; ``stage``: only that stage."""

    at = fields.AwareDateTime(load_default=None, default_timezone=timezone.utc)
    stage = fields.String(load_default=None, validate=ANY_STAGE)


class StageHistoryArgs(TypedDict):
    """What :class:`StageHistoryArgsSchema` loads."""

    at: datetime | None
    stage: str | None


class StageHistoryEntrySchema(StrictSchema):
    """One version's stay in one stage."""

    version = fields.Integer(attribute="version_number")
    stage = fields.String()
    entered_at = Timestamp()
    left_at = Timestamp(allow_none=True)
    entered_by = fields.String()
    comment = fields.String(allow_none=True)


class RollbackArgsSchema(StrictSchema):
    """Move a stage back to a version that held it."""

    stage = fields.String(required=True, validate=TARGET_STAGE)
    to_version = stored_id(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))

    @validates("reason")
    def _not_blank(self, value: str, **_: object) -> None:
        if not value.strip():
            raise ValidationError("Say why you roll back.")


class RollbackArgs(TypedDict):
    """What :class:`RollbackArgsSchema` loads."""

    stage: str
    to_version: int
    reason: str


class RollbackResultSchema(StrictSchema):
    """What a rollback did, and how the policies judge the version it restored."""

    model = fields.String()
    stage = fields.String()
    from_versions = fields.List(fields.Integer())
    to_version = fields.Integer()
    reason = fields.String()
    evaluation = fields.Dict()


class StageChangeSchema(StrictSchema):
    """An admin's direct stage change; to staging or production it overrides the gate."""

    stage = fields.String(required=True, validate=ANY_STAGE)
    reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=5000),
        metadata={
            "description": "Why: required to move to staging or production, which overrides "
            "the gate (the policies and approvals are skipped, and the override audited)."
        },
    )
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    archive_existing = fields.Boolean(load_default=False)


class StageChangeArgs(TypedDict):
    """What :class:`StageChangeSchema` loads."""

    stage: str
    reason: str | None
    comment: str | None
    archive_existing: bool


class GateArgsSchema(StrictSchema):
    """What the gate guards: a stage, or a governed alias; give one, not both."""

    stage = fields.String(validate=TARGET_STAGE)
    alias = fields.String(
        validate=validate.Regexp(ALIAS_PATTERN, error=ALIAS_RULE),
        metadata={"description": "An alias to point at the version, instead of a stage."},
    )

    @validates_schema
    def _stage_or_alias(self, data: dict[str, object], **_: object) -> None:
        if ("stage" in data) == ("alias" in data):
            raise ValidationError("Give a stage or an alias, not both.", field_name="stage")


class GateArgs(TypedDict):
    """What :class:`GateArgsSchema` loads."""

    stage: NotRequired[str]
    alias: NotRequired[str]


class GateSchema(StrictSchema):
    """May this version go to this stage, or may this alias name it: for CI
    (``assay gate check``)."""

    model = fields.String()
    version = fields.Integer()
    stage = fields.String(allow_none=True)
    alias = fields.String(allow_none=True)
    current_stage = fields.String()
    passed = fields.Boolean()
    status = fields.String()
    promotion_id = fields.Integer(allow_none=True)
    approvals = fields.Integer()
    required_approvals = fields.Integer()
    failing_rules = fields.List(fields.Dict())
    evaluation = fields.Dict()


class ComplianceArgsSchema(StrictSchema):
    """The report's format: a printable HTML page, or the JSON evidence bundle."""

    format = fields.String(load_default="html", validate=validate.OneOf(["html", "json"]))


class ComplianceArgs(TypedDict):
    """What :class:`ComplianceArgsSchema` loads."""

    format: str
