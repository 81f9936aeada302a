"""Request and response shapes of the rollout endpoints (marshmallow: validation, output,
OpenAPI), with the TypedDicts of what each request schema loads."""

from __future__ import annotations

from typing import TypedDict

from marshmallow import fields, post_load, validate

from ..schemas import StrictSchema, Timestamp, not_blank, stored_id
from .rollouts_models import PlannedStep

MAX_STEPS = 20
COMMENT = validate.Length(max=5000)


class StepSchema(StrictSchema):
    """One step: the candidate's share (percent), and the minimums to reach at it before the
    next (the plan's defaults where left out)."""

    percent = fields.Float(
        required=True, allow_nan=False, validate=validate.Range(min=0, max=100, min_inclusive=False)
    )
    min_duration_minutes = fields.Float(
        allow_nan=False, validate=validate.Range(min=0, max=60 * 24 * 90)
    )
    min_predictions = fields.Integer(validate=validate.Range(min=0, max=10**12))


class StepArgs(TypedDict, total=False):
    """What :class:`StepSchema` loads."""

    percent: float
    min_duration_minutes: float
    min_predictions: int


class RolloutCreateSchema(StrictSchema):
    """A rollout plan on an approved promotion to production that waits for it."""

    promotion_id = stored_id(required=True)
    steps = fields.List(
        fields.Nested(StepSchema), required=True, validate=validate.Length(min=1, max=MAX_STEPS)
    )
    min_duration_minutes = fields.Float(
        load_default=60.0, allow_nan=False, validate=validate.Range(min=0, max=60 * 24 * 90)
    )
    min_predictions = fields.Integer(load_default=100, validate=validate.Range(min=0, max=10**12))
    rollback_on_halt = fields.Boolean(load_default=True)
    comment = fields.String(load_default="", validate=COMMENT)

    @post_load
    def _each_step_complete(self, data: dict[str, object], **_: object) -> dict[str, object]:
        steps: list[StepArgs] = data["steps"]  # type: ignore[assignment]
        data["steps"] = [
            PlannedStep(
                percent=step["percent"],
                min_duration_minutes=step.get(
                    "min_duration_minutes",
                    data["min_duration_minutes"],  # type: ignore[typeddict-item]
                ),
                min_predictions=step.get("min_predictions", data["min_predictions"]),  # type: ignore[typeddict-item]
            )
            for step in steps
        ]
        return data


class RolloutCreateArgs(TypedDict):
    """What :class:`RolloutCreateSchema` loads (each step completed from the defaults)."""

    promotion_id: int
    steps: list[PlannedStep]
    min_duration_minutes: float
    min_predictions: int
    rollback_on_halt: bool
    comment: str


class RolloutReasonSchema(StrictSchema):
    """Why a rollout is halted, resumed or rolled back."""

    reason = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=5000),
            not_blank("Say why."),
        ],
    )


class RolloutReasonArgs(TypedDict):
    """What :class:`RolloutReasonSchema` loads."""

    reason: str


class PlannedStepSchema(StrictSchema):
    """A step of a stored plan."""

    percent = fields.Float()
    min_duration_minutes = fields.Float()
    min_predictions = fields.Integer()


class GateCheckSchema(StrictSchema):
    """One condition of a step's gate."""

    name = fields.String()
    passed = fields.Boolean()
    observed = fields.Raw(allow_none=True)
    required = fields.String()
    message = fields.String()


class StepGateSchema(StrictSchema):
    """A step's gate judged now."""

    rollout_id = fields.Integer()
    step = fields.Integer()
    percent = fields.Float()
    next_percent = fields.Float(allow_none=True)
    passed = fields.Boolean()
    judged_at = Timestamp()
    checks = fields.List(fields.Nested(GateCheckSchema))


class RolloutEventSchema(StrictSchema):
    """One change of a rollout, with the gate that allowed a step."""

    id = fields.Integer()
    kind = fields.String()
    step = fields.Integer()
    from_percent = fields.Float()
    to_percent = fields.Float()
    reason = fields.String()
    gate = fields.Dict(allow_none=True)
    created_by = fields.String()
    created_at = Timestamp()


class RolloutSchema(StrictSchema):
    """A rollout: its plan, where it stands, the split it sets, and its history."""

    id = fields.Integer()
    model = fields.String(attribute="model_name")
    promotion_id = fields.Integer()
    candidate_version = fields.Integer()
    baseline_version = fields.Integer()
    status = fields.String()
    step = fields.Integer()
    percent = fields.Float(attribute="current_percent")
    steps = fields.List(fields.Nested(PlannedStepSchema))
    rollback_on_halt = fields.Boolean()
    step_started_at = Timestamp()
    halted_reason = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = Timestamp()
    updated_at = Timestamp()
    ended_at = Timestamp(allow_none=True)
    history = fields.List(fields.Nested(RolloutEventSchema))


class RolloutStatusSchema(StrictSchema):
    """A rollout and, while it is open, its current step's gate judged now."""

    rollout = fields.Nested(RolloutSchema)
    gate = fields.Nested(StepGateSchema, allow_none=True)


class AdvanceSchema(StrictSchema):
    """What asking a rollout to advance did."""

    rollout = fields.Nested(RolloutSchema)
    gate = fields.Nested(StepGateSchema)
    advanced = fields.Boolean()


#: ``{version: weight}`` (version numbers as JSON keys): the share of traffic each version
#: should serve now; documented as it is, with no schema to load it.
SPLIT_SCHEMA = {
    "type": "object",
    "description": "The share of traffic (0–1) each version, named by its number, serves now.",
    "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
    "example": {"3": 0.9, "4": 0.1},
}
