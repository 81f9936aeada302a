"""Ingest rules: validate a batch, store its new rows once, record labels, audit each batch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, PayloadTooLarge, ValidationFailed
from ..registry.models import ModelVersion
from ..registry.service import RegistryService
from .blocks import encode_block
from .models import PredictionBatch, PredictionRow
from .validation import MAX_PREDICTION_ID, check_batch, check_category, check_number
from .wire import read_batch

MAX_REPORTED_ERRORS = 1000
MAX_REPORTED_UNKNOWN = 100
_LOOKUP_CHUNK = 900  # below SQLite's bound-parameter limit with room for the version id
_INSERT_ATTEMPTS = 3


@dataclass(frozen=True)
class IngestResult:
    """What became of a batch: rows stored, already stored, refused, and why."""

    accepted: int
    duplicates: int
    rejected: int
    errors: list[dict[str, Any]]
    batch_id: int | None = None


@dataclass(frozen=True)
class LabelResult:
    """What became of a batch of labels."""

    updated: int
    unknown: int
    rejected: int
    unknown_ids: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _error_dicts(errors: list[tuple[int, str, str]]) -> list[dict[str, Any]]:
    return [{"index": i, "field": f, "message": m} for i, f, m in errors[:MAX_REPORTED_ERRORS]]


def now_us(ctx: ServiceContext) -> int:
    """The context clock in epoch microseconds."""
    return int(ctx.clock().timestamp() * 1_000_000)


class IngestService:
    """Store predictions and ground truth for registered versions."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.registry = RegistryService(session, ctx)
        self.audit = AuditTrail(session, ctx)

    def _version(self, model_name: str, version: int) -> ModelVersion:
        row = self.registry.get_version(model_name, version)
        if row.model.archived_at is not None:
            raise Conflict(f"Model {model_name!r} is archived; it takes no new predictions.")
        return row

    def ingest(
        self, model_name: str, version: int, document: Any, *, strict: bool = False
    ) -> IngestResult:
        """Validate a batch (either wire format) and store the rows not stored before."""
        row = self._version(model_name, version)
        features = row.feature_schema["features"]
        batch = read_batch(
            document, [f["name"] for f in features], self.ctx.settings.max_batch_rows
        )
        checked = check_batch(batch, features, row.model.task, now_us(self.ctx))
        if strict and checked.errors:
            raise ValidationFailed(
                f"{checked.rejected} of {batch.size} rows are invalid; strict mode stored none.",
                details={"errors": _error_dicts(checked.errors)},
            )
        candidates: dict[str, int] = {}
        for index in range(batch.size):
            if checked.valid[index]:
                candidates.setdefault(batch.prediction_id[index], index)
        in_batch_repeats = batch.size - checked.rejected - len(candidates)
        for _attempt in range(_INSERT_ATTEMPTS):
            try:
                with self.session.begin_nested():
                    stored = self._store(
                        row,
                        batch,
                        checked.ts_us,
                        candidates,
                        rejected=checked.rejected,
                        repeats=in_batch_repeats,
                    )
                break
            except IntegrityError:  # a concurrent request stored some of these ids first
                continue
        else:
            raise Conflict("The batch kept colliding with concurrent sends; send it again.")
        result = IngestResult(
            accepted=stored.accepted,
            duplicates=stored.duplicates,
            rejected=checked.rejected,
            errors=_error_dicts(checked.errors),
            batch_id=stored.id,
        )
        self.audit.append(
            "predictions.ingested",
            "model_version",
            row.audit_id,
            {
                "batch_id": stored.id,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "ts_min_us": stored.ts_min_us,
                "ts_max_us": stored.ts_max_us,
            },
        )
        return result

    def _store(
        self,
        version: ModelVersion,
        batch: Any,
        ts_us: list[int],
        candidates: dict[str, int],
        *,
        rejected: int,
        repeats: int,
    ) -> PredictionBatch:
        order = list(candidates.values())  # one batch index per distinct valid id
        record = PredictionBatch(
            version_id=version.id,
            received_at=self.ctx.clock(),
            accepted=0,
            duplicates=0,
            rejected=rejected,
        )
        self.session.add(record)
        self.session.flush()
        if self.session.connection().dialect.name == "postgresql":
            stored = self._insert_on_conflict(version.id, record.id, batch, order, ts_us)
        else:
            stored = self._insert_new(version.id, record.id, batch, order, ts_us)
        kept_ts = [ts_us[order[position]] for position in stored]
        record.accepted = len(stored)
        record.duplicates = len(order) - len(stored) + repeats
        record.ts_min_us = min(kept_ts, default=None)
        record.ts_max_us = max(kept_ts, default=None)
        if stored:
            kinds = {f["name"]: f["kind"] for f in version.feature_schema["features"]}
            record.block = encode_block(
                batch,
                order,
                ts_us,
                kinds,
                numeric_output=version.model.task == "regression",
                stored=None if len(stored) == len(order) else set(stored),
            )
        self.session.flush()
        return record

    def _insert_on_conflict(
        self, version_id: int, batch_id: int, batch: Any, order: list[int], ts_us: list[int]
    ) -> list[int]:
        """PostgreSQL: one INSERT … ON CONFLICT DO NOTHING over arrays; the unique index decides
        which rows are new, whatever the planner's statistics (a pre-check by SELECT scanned
        the version's rows while a fresh table had none)."""
        labels = batch.label or [None] * batch.size
        rows = self.session.connection().exec_driver_sql(
            'INSERT INTO predictions (version_id, prediction_id, ts_us, batch_id, "row", label, '
            "label_updated_at) "
            "SELECT %s, t.pid, t.ts, %s, t.pos, t.lbl::json, "
            "CASE WHEN t.lbl IS NULL THEN NULL ELSE %s::timestamptz END "
            "FROM unnest(%s::text[], %s::bigint[], %s::int[], %s::text[]) AS t(pid, ts, pos, lbl) "
            'ON CONFLICT (version_id, prediction_id) DO NOTHING RETURNING "row"',
            (
                version_id,
                batch_id,
                self.ctx.clock(),
                [batch.prediction_id[i] for i in order],
                [ts_us[i] for i in order],
                list(range(len(order))),
                [None if labels[i] is None else json.dumps(labels[i]) for i in order],
            ),
        )
        return sorted(position for (position,) in rows)

    def _insert_new(
        self, version_id: int, batch_id: int, batch: Any, order: list[int], ts_us: list[int]
    ) -> list[int]:
        """SQLite: writers are serialised, so a look-up then a plain executemany is exact."""
        connection = self.session.connection()
        existing: set[str] = set()
        ids = [batch.prediction_id[i] for i in order]
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            # Plain SQL: SQLAlchemy would compile a fresh IN list of this length every batch.
            found = connection.exec_driver_sql(
                "SELECT prediction_id FROM predictions WHERE version_id = ? "
                f"AND prediction_id IN ({', '.join(['?'] * len(chunk))})",
                (version_id, *chunk),
            )
            existing.update(pid for (pid,) in found)
        labels = batch.label or [None] * batch.size
        stored = [p for p, index in enumerate(order) if batch.prediction_id[index] not in existing]
        plain = [
            (version_id, batch.prediction_id[order[p]], ts_us[order[p]], batch_id, p)
            for p in stored
            if labels[order[p]] is None
        ]
        if plain:
            # Past SQLAlchemy's per-row type processing: nothing here needs it.
            connection.exec_driver_sql(
                'INSERT INTO predictions (version_id, prediction_id, ts_us, batch_id, "row") '
                "VALUES (?, ?, ?, ?, ?)",
                plain,
            )
        labelled = [
            {
                "version_id": version_id,
                "prediction_id": batch.prediction_id[order[p]],
                "ts_us": ts_us[order[p]],
                "batch_id": batch_id,
                "row": p,
                "label": labels[order[p]],
                "label_updated_at": self.ctx.clock(),
            }
            for p in stored
            if labels[order[p]] is not None
        ]
        if labelled:
            connection.execute(insert(PredictionRow.__table__), labelled)
        return stored

    def record_labels(self, model_name: str, labels: list[dict[str, Any]]) -> LabelResult:
        """Join late ground truth to predictions by id, across the model's versions."""
        model = self.registry.get_model(model_name)
        if model.archived_at is not None:
            raise Conflict(f"Model {model_name!r} is archived.")
        if len(labels) > self.ctx.settings.max_batch_rows:
            raise PayloadTooLarge(f"More than {self.ctx.settings.max_batch_rows} labels.")
        check = check_number if model.task == "regression" else check_category
        latest: dict[str, Any] = {}
        errors: list[tuple[int, str, str]] = []
        for index, item in enumerate(labels):
            pid, label = item["prediction_id"], item["label"]
            problem = check(label) if label is not None else None
            if len(pid) > MAX_PREDICTION_ID:
                problem = f"prediction_id is longer than {MAX_PREDICTION_ID} characters."
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
            errors=_error_dicts(errors),
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
