"""What a monitor run computes, once its window is read: the version watched, the checks'
inputs (reference profile, baseline, calibration loaded on demand) and the report drafts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..checks.estimated import Calibration
from ..checks.profile import ReferenceProfile
from ..registry.benchmarks import benchmarks_of
from ..registry.models import ModelVersion
from ..registry.profiles import load_profile, reference_frame
from ..settings import Settings
from .aggregates import WindowAggregates, plan
from .drafts import ReportDraft, RunInputs, class_labels
from .evaluate import CHECK_FUNCTIONS
from .models import Monitor, MonitorRun
from .windows import Window, read_run_window


def version_watched(session: Session, monitor: Monitor) -> ModelVersion | None:
    """The version a monitor watches now: its pinned version, the newest in its stage, or the
    newest version of its model."""
    if monitor.version_id is not None:
        return session.get(ModelVersion, monitor.version_id)
    query = select(ModelVersion).where(ModelVersion.model_id == monitor.model_id)
    if monitor.stage is not None:
        query = query.where(ModelVersion.stage == monitor.stage).order_by(
            ModelVersion.stage_changed_at.desc(), ModelVersion.version.desc()
        )
    else:
        query = query.order_by(ModelVersion.version.desc())
    return session.scalars(query.limit(1)).first()


def no_version(monitor: Monitor) -> str:
    """Why a run of ``monitor`` has nothing to look at."""
    if monitor.stage is not None:
        return f"No version of {monitor.model.name!r} is in stage {monitor.stage}."
    return f"{monitor.model.name!r} has no versions."


def compute_run(
    session: Session, settings: Settings, monitor: Monitor, version: ModelVersion, run: MonitorRun
) -> tuple[Window, list[ReportDraft]]:
    """Stream the run's window once through the counts its checks need and a uniform sample
    of at most ``ASSAY_MAX_WINDOW_ROWS`` rows (seeded by the run's id), then run the checks:
    the window as read, and the reports before they are stored."""
    profile = load_profile(version, settings) if _needs_profile(monitor) else None
    calibration = None
    if "estimated_performance" in monitor.checks and monitor.model.task == "binary_classification":
        calibration = _calibration(settings, version, monitor.options)
    prediction = version.feature_schema.get("prediction")
    aggregates = plan(
        task=monitor.model.task,
        checks=list(monitor.checks),
        sample_size=settings.max_window_rows,
        seed=run.id,
        profile=profile,
        prediction_name=prediction["name"] if prediction else None,
        sensitive_features=list(monitor.sensitive_features),
        options=monitor.options,
        calibration=calibration,
    )
    window = read_run_window(session, monitor, version, run, aggregates)
    drafts = compute_drafts(session, monitor, version, window, aggregates, profile, calibration)
    return window, drafts


def compute_drafts(
    session: Session,
    monitor: Monitor,
    version: ModelVersion,
    window: Window,
    aggregates: WindowAggregates,
    profile: ReferenceProfile | None,
    calibration: Calibration | None,
) -> list[ReportDraft]:
    """Run the monitor's checks on a window streamed already; the reports before they are
    stored, each saying how many rows its figures come from and whether they are sampled."""
    inputs = RunInputs(
        task=monitor.model.task,
        schema=version.feature_schema,
        window=window.data,
        rows_total=window.rows_total,
        aggregates=aggregates,
        rejected_rows=window.rejected_rows,
        labels_received=window.labels.received if window.labels else 0,
        labels_rejected=window.labels.rejected if window.labels else 0,
        profile=profile,
        min_rows=monitor.min_rows,
        thresholds=monitor.thresholds,
        options=monitor.options,
        sensitive_features=list(monitor.sensitive_features),
        baseline=lambda: baseline_of(session, version, monitor.options.get("benchmark")),
        calibration=lambda: calibration,
    )
    return [_counted(CHECK_FUNCTIONS[check](inputs), window) for check in monitor.checks]


def _counted(draft: ReportDraft, window: Window) -> ReportDraft:
    """A draft that says which rows it used: drift the sample; the others, unless they say
    otherwise, every row (their figures are counted over the whole window)."""
    if draft.rows_used is not None and draft.sampled is not None:
        return draft
    if draft.kind == "drift":
        return replace(draft, rows_used=len(window.data), sampled=window.sampled)
    return replace(draft, rows_used=window.rows_total, sampled=False)


def _calibration(
    settings: Settings, version: ModelVersion, options: dict[str, Any]
) -> Calibration | None:
    """The score calibration fitted on the version's reference (None without scores and
    target there, or when it holds a single class)."""
    from ..checks.estimated import fit_calibration

    target = (version.feature_schema.get("target") or {}).get("name")
    if target is None or version.reference_sha256 is None:
        return None
    frame = reference_frame(version, settings, [target, "score"])
    if "score" not in frame.columns or target not in frame.columns:
        return None
    frame = frame.dropna()
    if frame.empty:
        return None
    try:
        return fit_calibration(
            frame["score"].astype(float).to_numpy(),
            class_labels(frame[target]).to_numpy(),
            positive_label=str(options.get("positive_label", "1")),
        )
    except ValueError:  # a reference of one class: nothing to calibrate against
        return None


def _needs_profile(monitor: Monitor) -> bool:
    return bool({"drift", "data_quality"} & set(monitor.checks))


def baseline_of(
    session: Session, version: ModelVersion, benchmark: str | None
) -> tuple[str, dict[str, float]] | None:
    """The metrics performance is compared with: the named (or newest) benchmark, else the
    version's training metrics."""
    found = next(iter(benchmarks_of(session, version.id, benchmark)), None)
    if found is not None:
        return f"benchmark {found.name!r} (#{found.id})", dict(found.metrics)
    if benchmark:
        return None
    metrics = (version.lineage or {}).get("metrics") or {}
    return ("training metrics", dict(metrics)) if metrics else None


def plain(value: Any) -> Any:
    """JSON-safe: numpy scalars become Python numbers, NaN and infinities become None."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
