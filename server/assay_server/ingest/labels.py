"""Ground truth that arrives after its predictions: checked label by label, joined to the
predictions by id across the model's versions (the last label sent for an id wins), audited
once per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, PayloadTooLarge
from ..registry.models import ModelVersion
from ..registry.service import RegistryService
from ..storable import UNSTORABLE_TEXT, is_storable_text
from .models import PredictionRow
from .schemas import Label
from .service import RowError, row_errors
from .validation import MAX_PREDICTION_ID, check_category, check_number
from .wire import RowProblem

MAX_REPORTED_UNKNOWN = 100
_LOOKUP_CHUNK = 900  # below SQLite's bound-parameter limit with room for the version id


@dataclass(frozen=True)
class LabelResult:
    """What became of a batch of labels."""

    updated: int
    unknown: int
    rejected: int
    unknown_ids: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class LabelService:
    """Record ground truth for the predictions of a model."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.registry = RegistryService(session, ctx)
        self.audit = AuditTrail(session, ctx)

    def record(self, model_name: str, labels: Sequence[Label]) -> LabelResult:
        """Join late ground truth to predictions by id, across the model's versions."""
        model = self.registry.get_model(model_name)
        if model.archived_at is not None:
            raise Conflict(f"Model {model_name!r} is archived.")
        if len(labels) > self.ctx.settings.max_batch_rows:
            raise PayloadTooLarge(f"More than {self.ctx.settings.max_batch_rows} labels.")
        check = check_number if model.task == "regression" else check_category
        latest: dict[str, object] = {}
        errors: list[RowProblem] = []
        for index, item in enumerate(labels):
            pid, label = item["prediction_id"], item["label"]
            problem = check(label) if label is not None else None
            if len(pid) > MAX_PREDICTION_ID:
                problem = f"prediction_id is longer than {MAX_PREDICTION_ID} characters."
            elif not is_storable_text(pid):
                problem = "prediction_id: " + UNSTORABLE_TEXT
            if problem:
                errors.append((index, "label", problem))
            else:
                latest[pid] = label  # last write wins, within a batch too
        version_ids = list(
            self.session.scalars(select(ModelVersion.id).where(ModelVersion.model_id == model.id))
        )
        ids = list(latest)
        matches: list[tuple[int, str]] = []
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            matches.extend(
                self.session.execute(
                    select(PredictionRow.id, PredictionRow.prediction_id).where(
                        PredictionRow.version_id.in_(version_ids),
                        PredictionRow.prediction_id.in_(chunk),
                    )
                )
            )
        now = self.ctx.clock()
        if matches:
            self.session.execute(
                update(PredictionRow),
                [{"id": pk, "label": latest[pid], "label_updated_at": now} for pk, pid in matches],
            )
        found = {pid for _pk, pid in matches}
        unknown = [pid for pid in ids if pid not in found]
        result = LabelResult(
            updated=len(found),
            unknown=len(unknown),
            rejected=len(errors),
            unknown_ids=unknown[:MAX_REPORTED_UNKNOWN],
            errors=row_errors(errors),
        )
        self.audit.append(
            "labels.recorded",
            "model",
            model.name,
            {
                "updated": result.updated,
                "unknown": result.unknown,
                "rejected": result.rejected,
            },
        )
        return result
