"""The comparison page: champion against challenger over a window — the verdict, n, both
versions' metric, the difference with its interval, and the minimum sample."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from marshmallow import ValidationError

from ..access import browser_page, requires
from ..errors import AssayError
from ..monitoring.comparison_schemas import ALL_METRICS, ComparisonArgsSchema
from ..monitoring.comparisons import Comparison, compare_as_asked
from ..request_scope import db_session, service_context
from ..roles import Role
from .blueprint import bp

#: The status style each verdict is shown with (the stylesheet's colours).
VERDICT_STYLES = {
    "challenger_better": "ok",
    "no_difference": "pending",
    "challenger_worse": "alert",
    "insufficient_data": "insufficient_data",
}


def _page(
    name: str,
    asked: dict[str, Any],
    *,
    report: Comparison | None = None,
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    page = render_template(
        "comparison.html",
        name=name,
        asked=asked,
        errors=errors or {},
        report=report,
        metrics=ALL_METRICS,
        styles=VERDICT_STYLES,
    )
    return page, status


@bp.get("/models/<name>/comparison")
@requires(Role.VIEWER)
@browser_page
def comparison_page(name: str) -> tuple[str, int]:
    """Champion against challenger (``?champion=&challenger=&mode=&metric=&start=&end=``);
    without both versions, the form alone."""
    asked = {key: value for key, value in request.args.items() if value != ""}
    if "champion" not in asked and "challenger" not in asked:
        return _page(name, asked)
    try:
        args = ComparisonArgsSchema().load(asked)
        report = compare_as_asked(db_session(), service_context(), name, args)
    except ValidationError as refused:
        return _page(name, asked, errors=refused.normalized_messages(), status=422)
    except AssayError as refused:
        errors = refused.details or {"comparison": [refused.message]}
        return _page(name, asked, errors=errors, status=refused.status)
    return _page(name, asked, report=report)
