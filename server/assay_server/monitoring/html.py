"""A report's HTML: Evidently's own report for the report's window, built once and cached.

It is several MB and takes seconds, so it is built on the first request for it, never on the
scheduled path, and kept by content in the reports directory.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from ..db import Database
from ..errors import NotFound, ValidationFailed
from ..ingest.window import read_window
from ..registry.profiles import monitored_kinds, reference_frame
from ..registry.storage import ContentStore
from ..settings import Settings
from .drafts import class_labels
from .models import Monitor, Report
from .windows import sample


def report_html_path(database: Database, settings: Settings, report_id: int) -> Path:
    """The cached HTML of a report, built now if it is not cached yet."""
    store = ContentStore(settings.reports_dir)
    with database.unit_of_work(write=False) as session:
        report = session.get(Report, report_id)
        if report is None:
            raise NotFound(f"No report {report_id}.")
        if report.html_sha256 and store.path_for(report.html_sha256).exists():
            return store.path_for(report.html_sha256)
        version = report.version
        if version.reference_sha256 is None:
            raise ValidationFailed(
                "This report has no HTML view: its version has no reference dataset.",
                details={"report": ["Register the version with reference data."]},
            )
        schema = version.feature_schema
        kinds = monitored_kinds(schema)
        reference = reference_frame(version, settings, list(kinds))
        kinds = {name: kind for name, kind in kinds.items() if name in reference.columns}
        window = read_window(session, version.id, report.window_start, report.window_end)
        if report.sampled and report.sample_seed is not None and len(window) > report.rows_used:
            window = sample(window, report.rows_used, report.sample_seed)
        current = window.features.reindex(columns=list(kinds))
        prediction = (schema.get("prediction") or {}).get("name")
        if prediction in kinds:
            values = window.predictions
            current[prediction] = (
                class_labels(values).to_numpy() if version.model.task != "regression" else values
            )
            reference[prediction] = (
                class_labels(reference[prediction]).to_numpy()
                if version.model.task != "regression"
                else reference[prediction]
            )
        monitor = session.get(Monitor, report.monitor_id)
        options = monitor.options if monitor is not None else {}
        title = f"{version.model.name} v{version.version}: {report.kind} report #{report.id}"
    from .evidently_report import evidently_html

    html = evidently_html(
        reference[list(kinds)],
        current,
        kinds,
        methods=options.get("feature_methods") or None,
        thresholds=options.get("feature_thresholds") or None,
        drift_share=options.get("drift_share", 0.5),
        title=title,
    )
    blob = store.put_bytes(html)
    with database.unit_of_work() as session:
        session.execute(
            update(Report).where(Report.id == report_id).values(html_sha256=blob.sha256)
        )
    return store.path_for(blob.sha256)
