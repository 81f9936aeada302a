"""A report's Evidently page, per kind of check, built off the request path and cached.

Drift reports get Evidently's ``DataDriftPreset``, data-quality reports its
``DataSummaryPreset``, performance reports its ``ClassificationPreset`` or
``RegressionPreset``; bias and estimated-performance reports have no Evidently page (the
report's own page shows them). A page is several MB and takes seconds on a large window, so a
request never builds one: it finds it cached (by content, in the blob storage) or starts
a build in a background thread and answers "being prepared" (:class:`PagePreparing`). The
scheduler builds the pages of new reports after their runs (:func:`build_missing_pages`), so
most are ready before anyone asks. Both sides are sampled to ``ASSAY_EVIDENTLY_MAX_ROWS``
(seeded by the report) while the window streams past, so a page costs the same memory for a
window of 50 thousand rows as for 10 million.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..checks.sampling import SeededSample
from ..db import Database, utcnow
from ..errors import NotFound, ValidationFailed
from ..ingest.store import ROWS_PER_BLOCK, PredictionStore, PredictionWindow, prediction_store
from ..registry.models import ModelVersion
from ..registry.profiles import monitored_kinds, reference_frame
from ..settings import Settings
from ..storage import BlobMissing, open_storage
from .drafts import class_labels
from .models import Monitor, Report

if TYPE_CHECKING:  # imported where a page is built: the scheduler starts without pandas
    import pandas as pd

log = logging.getLogger(__name__)

#: The report kinds Evidently has a page for.
PAGE_KINDS = ("drift", "data_quality", "performance")
#: The app-config key that turns request-started page builds off (tests on a rolled-back store).
BUILD_PAGES_IN_BACKGROUND = "ASSAY_BUILD_PAGES_IN_BACKGROUND"
#: Seconds a client is asked to wait before asking again for a page being prepared.
RETRY_SECONDS = 5

_building: set[int] = set()
_failed: dict[int, str] = {}
_lock = threading.Lock()


class PagePreparing(Exception):
    """The page is being built; ask again in :data:`RETRY_SECONDS` seconds."""


def evidently_page_path(
    database: Database, settings: Settings, report_id: int, *, build_in_background: bool = True
) -> Path:
    """The path of the report's cached Evidently page; when it is not built yet, a build is
    started in a background thread (unless ``build_in_background`` is false: a test's store
    in a transaction of its own cannot be shared with a thread).

    Raises:
        NotFound: no such report, or its kind has no Evidently page.
        ValidationFailed: the page cannot be built (no reference data; Evidently refused).
        PagePreparing: not built yet; a build has been started.
    """
    with database.unit_of_work(write=False) as session:
        report = session.get(Report, report_id)
        if report is None:
            raise NotFound(f"No report {report_id}.")
        if report.kind not in PAGE_KINDS:
            raise NotFound(
                f"A {report.kind.replace('_', ' ')} report has no Evidently page; its own page "
                f"is /reports/{report_id}.",
                details={"kind": report.kind, "page": f"/reports/{report_id}"},
            )
        cached = _cached(settings, report.html_sha256)
        if cached is not None:
            return cached
        if report.kind != "performance" and report.version.reference_sha256 is None:
            raise ValidationFailed(
                "This report has no Evidently page: its version has no reference dataset.",
                details={"report": ["Register the version with reference data."]},
            )
    with _lock:
        reason = _failed.get(report_id)
        if reason is None and report_id not in _building and build_in_background:
            _building.add(report_id)
            threading.Thread(
                target=_build_in_background,
                args=(database, settings, report_id),
                name=f"evidently-page-{report_id}",
                daemon=True,
            ).start()
    if reason is not None:
        raise ValidationFailed(
            f"Evidently could not build this report's page: {reason}",
            details={"report": [reason]},
        )
    raise PagePreparing(f"Evidently's page of report {report_id} is being prepared.")


def build_missing_pages(
    database: Database, settings: Settings, *, now: datetime | None = None, hours: float = 24
) -> int:
    """Build the pages of recent reports that have none yet (the scheduler's job); returns
    how many were built. A report Evidently refuses is skipped (and logged) each time."""
    since = (now or utcnow()) - timedelta(hours=hours)
    with database.unit_of_work(write=False) as session:
        wanted = list(
            session.scalars(
                select(Report.id).where(
                    Report.kind.in_(PAGE_KINDS),
                    Report.html_sha256.is_(None),
                    Report.status != "insufficient_data",
                    Report.created_at >= since,
                )
            )
        )
    built = 0
    for report_id in wanted:
        with _lock:
            if report_id in _building or report_id in _failed:
                continue
            _building.add(report_id)
        try:
            build_page(database, settings, report_id)
            built += 1
        except (ValueError, ValidationFailed) as exc:
            _remember_failure(report_id, exc)
        finally:
            with _lock:
                _building.discard(report_id)
    return built


def build_page(database: Database, settings: Settings, report_id: int) -> Path:
    """Build the report's page now, store it by content and note it on the report."""
    with database.unit_of_work(write=False) as session:
        report = session.get(Report, report_id)
        if report is None:
            raise NotFound(f"No report {report_id}.")
        html = _render(session, settings, report)
    store = open_storage(settings).reports
    blob = store.put_bytes(html)
    with database.unit_of_work() as session:
        session.execute(
            update(Report).where(Report.id == report_id).values(html_sha256=blob.sha256)
        )
    return store.local_path(blob.sha256)


def _build_in_background(database: Database, settings: Settings, report_id: int) -> None:
    try:
        build_page(database, settings, report_id)
    except (ValueError, ValidationFailed) as exc:
        _remember_failure(report_id, exc)
    except Exception:  # the thread has nobody to raise to: log it, let a later request retry
        log.exception("building Evidently's page of report %s failed", report_id)
    finally:
        with _lock:
            _building.discard(report_id)


def _remember_failure(report_id: int, exc: Exception) -> None:
    reason = getattr(exc, "message", None) or str(exc)
    log.warning("Evidently's page of report %s cannot be built: %s", report_id, reason)
    with _lock:
        _failed[report_id] = reason[:300]


def _cached(settings: Settings, sha256: str | None) -> Path | None:
    if not sha256:
        return None
    try:  # a local file to send: the stored page, or a cached copy of the S3 object
        return open_storage(settings).reports.local_path(sha256)
    except BlobMissing:
        return None


def _render(session: Session, settings: Settings, report: Report) -> bytes:
    from .evidently_report import (
        evidently_html,
        evidently_performance_html,
        evidently_summary_html,
    )

    version = report.version
    title = f"{version.model.name} v{version.version}: {report.kind} report #{report.id}"
    cap = settings.evidently_max_rows
    window = sampled_window(prediction_store(session, settings), version.id, report, cap)
    if report.kind == "performance":
        return evidently_performance_html(_labelled(window), version.model.task, title=title)
    kinds = monitored_kinds(version.feature_schema)
    reference = reference_frame(version, settings, list(kinds))
    if len(reference) > cap:
        reference = reference.sample(cap, random_state=report.id)
    kinds = {name: kind for name, kind in kinds.items() if name in reference.columns}
    current = window.features.reindex(columns=list(kinds))
    _add_predictions(version, kinds, current, reference, window)
    if report.kind == "data_quality":
        return evidently_summary_html(current, kinds, reference=reference[list(kinds)], title=title)
    monitor = session.get(Monitor, report.monitor_id)
    options = monitor.options if monitor is not None else {}
    return evidently_html(
        reference[list(kinds)],
        current,
        kinds,
        methods=options.get("feature_methods") or None,
        thresholds=options.get("feature_thresholds") or None,
        drift_share=options.get("drift_share", 0.5),
        title=title,
    )


def sampled_window(
    store: PredictionStore, version_id: int, report: Report, size: int
) -> PredictionWindow:
    """A uniform sample of at most ``size`` rows of the report's window, drawn while the
    window streams past (seeded by the report's sample seed, else its id), so a page costs
    the memory of one part and the sample, whatever the window's size."""
    sample = SeededSample(size, report.sample_seed or report.id)
    for part in store.stream_window(
        version_id, report.window_start, report.window_end, max_rows=ROWS_PER_BLOCK
    ):
        if len(part):
            sample.update(part.frame)
    frame = sample.result()
    if not len(frame.columns):
        import pandas as pd

        frame = pd.DataFrame(columns=["prediction_id", "timestamp", "prediction", "label"])
    return PredictionWindow(frame=frame)


def _labelled(window: Any) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(
        {"target": window.labels, "prediction": window.predictions}, index=window.frame.index
    )
    if "score" in window.frame.columns:
        frame["score"] = pd.to_numeric(window.frame["score"], errors="coerce")
    return frame[frame["target"].notna() & frame["prediction"].notna()]


def _add_predictions(
    version: ModelVersion,
    kinds: dict[str, str],
    current: pd.DataFrame,
    reference: pd.DataFrame,
    window: Any,
) -> None:
    """The prediction column on both sides, as class labels for a classifier."""
    prediction = (version.feature_schema.get("prediction") or {}).get("name")
    if prediction not in kinds:
        return
    classifier = version.model.task != "regression"
    values = window.predictions
    current[prediction] = class_labels(values).to_numpy() if classifier else values
    reference[prediction] = (
        class_labels(reference[prediction]).to_numpy() if classifier else reference[prediction]
    )
