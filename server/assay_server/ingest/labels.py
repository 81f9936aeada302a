"""Ground truth, by prediction id: checked label by label against the model's task (its
classes, or finite numbers), joined to the predictions by id across the model's versions (the
last label sent for an id wins), audited once per batch. A label whose prediction is not
stored yet waits for it in ``pending_labels`` (``pending.py``). Every batch adds to the
counts of labels received and refused per version and day (``label_counts.py``), which data
quality reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, PayloadTooLarge
from ..registry.models import ModelVersion
from ..registry.service import RegistryService
from ..storable import UNSTORABLE_TEXT, is_storable_text
from .classes import ClassSet, class_set, union
from .label_counts import count_labels
from .models import PendingLabel, PredictionRow
from .pending import (
    PendingLabels,
    cutoff,
    forget_expired,
    hold_for_labels,
    keep_pending,
    pending_labels,
)
from .schemas import Label, PendingLabelArgs
from .service import RowError, row_errors
from .validation import MAX_PREDICTION_ID, check_category, check_number
from .wire import RowProblem

MAX_REPORTED_UNKNOWN = 100
_ROWS = cast(Table, PredictionRow.__table__)
_SET_LABEL = (
    update(_ROWS)
    .where(_ROWS.c.id == bindparam("pk"), _ROWS.c.ts_us == bindparam("ts"))
    .values(label=bindparam("label"), label_updated_at=bindparam("now"))
)
_LOOKUP_CHUNK = 900  # below SQLite's bound-parameter limit with room for the version id


@dataclass(frozen=True)
class LabelResult:
    """What became of a batch of labels."""

    updated: int
    unknown: int  # labels whose prediction is not stored yet: all of them are ``pending``
    rejected: int
    unknown_ids: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    pending: int = 0  # labels of this batch kept until their predictions arrive
    pending_total: int = 0  # the model's labels waiting now (this batch's included)


class LabelService:
    """Record ground truth for the predictions of a model."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.registry = RegistryService(session, ctx)
        self.audit = AuditTrail(session, ctx)

    def record(self, model_name: str, labels: Sequence[Label]) -> LabelResult:
        """Join ground truth to predictions by id, across the model's versions; keep the
        labels whose predictions are not stored yet until they are (or expire)."""
        model = self.registry.get_model(model_name)
        if model.archived_at is not None:
            raise Conflict(f"Model {model_name!r} is archived.")
        if len(labels) > self.ctx.settings.max_batch_rows:
            raise PayloadTooLarge(f"More than {self.ctx.settings.max_batch_rows} labels.")
        versions = list(
            self.session.execute(
                select(
                    ModelVersion.id, ModelVersion.feature_schema, ModelVersion.reference_sha256
                ).where(ModelVersion.model_id == model.id)
            )
        )
        classes = self._classes(model.task, model.classes, versions)
        latest, errors = _checked(labels, model.task, classes)
        version_ids = [version_id for version_id, _schema, _sha in versions]
        now = self.ctx.clock()
        connection = self.session.connection()
        expired_before = cutoff(self.ctx.settings, now)
        forget_expired(connection, model.id, expired_before)
        found = self._join(version_ids, latest, now)
        unknown = [pid for pid in latest if pid not in found]
        if unknown:
            # Their predictions may be committing now: look again once no batch of the
            # model's predictions is (PostgreSQL; SQLite has one writer anyway).
            hold_for_labels(connection, model.id)
            found |= self._join(version_ids, {pid: latest[pid] for pid in unknown}, now)
            unknown = [pid for pid in unknown if pid not in found]
            # an explicit null (no label) for an unknown prediction leaves nothing to keep
            unknown = [pid for pid in unknown if latest[pid] is not None]
            keep_pending(connection, model.id, {pid: latest[pid] for pid in unknown}, now)
        self._count(model.id, version_ids, labels, errors, found, now)
        waiting = self._pending_count(model.id, expired_before)
        result = LabelResult(
            updated=len(found),
            unknown=len(unknown),
            rejected=len(errors),
            unknown_ids=unknown[:MAX_REPORTED_UNKNOWN],
            errors=row_errors(errors),
            pending=len(unknown),
            pending_total=waiting,
        )
        self.audit.append(
            "labels.recorded",
            "model",
            model.name,
            {
                "updated": result.updated,
                "unknown": result.unknown,
                "rejected": result.rejected,
                "pending": result.pending,
            },
        )
        return result

    def _classes(
        self, task: str, declared: list[Any] | None, versions: list[Any]
    ) -> ClassSet | None:
        """The classes a label of the model may be: those it declared, else those of any of
        its versions."""
        if task == "regression":
            return None
        directory = self.ctx.storage.reference
        found = [
            class_set(task, schema, sha, directory, declared=declared)
            for _id, schema, sha in versions
        ]
        return union(found)

    def _stored(self, version_ids: list[int], ids: list[str]) -> list[tuple[int, str, int, int]]:
        """``(row id, prediction id, version id, timestamp)`` of the stored predictions among
        ``ids``."""
        matches: list[tuple[int, str, int, int]] = []
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            matches.extend(
                (pk, pid, version_id, ts_us)
                for pk, pid, version_id, ts_us in self.session.execute(
                    select(
                        PredictionRow.id,
                        PredictionRow.prediction_id,
                        PredictionRow.version_id,
                        PredictionRow.ts_us,
                    ).where(
                        PredictionRow.version_id.in_(version_ids),
                        PredictionRow.prediction_id.in_(chunk),
                    )
                )
            )
        return matches

    def _join(self, version_ids: list[int], latest: dict[str, object], now: Any) -> dict[str, int]:
        """Label the stored predictions among ``latest``; return the ids found, each with
        the version that stored it."""
        matches = self._stored(version_ids, list(latest))
        if matches:
            # by id and timestamp: on PostgreSQL the timestamp names the row's day partition
            self.session.connection().execute(
                _SET_LABEL,
                [
                    {"pk": pk, "ts": ts_us, "label": latest[pid], "now": now}
                    for pk, pid, _version, ts_us in matches
                ],
            )
        return {pid: version_id for _pk, pid, version_id, _ts in matches}

    def _count(
        self,
        model_id: int,
        version_ids: list[int],
        labels: Sequence[Label],
        errors: list[RowProblem],
        found: dict[str, int],
        now: Any,
    ) -> None:
        """Count the batch's labels received and refused, for the version whose prediction
        each names, else the model's newest (data quality reports the refused share)."""
        if not version_ids:
            return  # no version to count them for: no monitor can look at them
        newest = max(version_ids)
        refused = {index for index, _field, _problem in errors}
        refused_ids = list({labels[i]["prediction_id"] for i in refused if _lookup_able(labels[i])})
        version_of = dict(found)
        version_of.update(
            {pid: version for _pk, pid, version, _ts in self._stored(version_ids, refused_ids)}
        )
        received: Counter[int] = Counter()
        rejected: Counter[int] = Counter()
        for index, item in enumerate(labels):
            version = version_of.get(item["prediction_id"], newest)
            received[version] += 1
            if index in refused:
                rejected[version] += 1
        count_labels(self.session.connection(), model_id, now.date(), received, rejected)

    def _pending_count(self, model_id: int, expired_before: Any) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(PendingLabel)
                .where(
                    PendingLabel.model_id == model_id, PendingLabel.received_at >= expired_before
                )
            )
            or 0
        )

    def pending(self, model_name: str, args: PendingLabelArgs) -> PendingLabels:
        """The model's labels waiting for their predictions: how many, and a page of them."""
        model = self.registry.get_model(model_name)
        return pending_labels(
            self.session,
            model.id,
            model.name,
            self.ctx.settings,
            self.ctx.clock(),
            limit=args["limit"],
            after=args.get("after"),
        )


def _lookup_able(item: Label) -> bool:
    """True when a refused label's prediction id can be looked up at all."""
    pid = item["prediction_id"]
    return len(pid) <= MAX_PREDICTION_ID and is_storable_text(pid)


def _checked(
    labels: Sequence[Label], task: str, classes: ClassSet | None
) -> tuple[dict[str, object], list[RowProblem]]:
    """The valid labels by id (the last one sent for an id wins; spelled as their class) and
    the problems of the others."""
    check = check_number if task == "regression" else check_category
    latest: dict[str, object] = {}
    errors: list[RowProblem] = []
    for index, item in enumerate(labels):
        pid, label = item["prediction_id"], item["label"]
        problem = check(label) if label is not None else None
        field_name = "label"
        if len(pid) > MAX_PREDICTION_ID:
            problem = f"prediction_id is longer than {MAX_PREDICTION_ID} characters."
            field_name = "prediction_id"
        elif not is_storable_text(pid):
            problem = "prediction_id: " + UNSTORABLE_TEXT
            field_name = "prediction_id"
        elif problem is None and label is not None and classes is not None:
            label, problem = classes.normalise(label)
        if problem:
            errors.append((index, field_name, problem))
        else:
            latest[pid] = label  # last write wins, within a batch too
    return latest, errors
