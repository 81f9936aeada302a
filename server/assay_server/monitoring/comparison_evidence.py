"""Comparisons as evidence for the release rules (``challenger_not_worse``,
``shadow_min_predictions``): the version judged is the challenger, its champion the version
the ``champion`` alias names, else the model's production version. ``wiring.py`` connects
these providers to the evidence kinds ``challenger_comparison`` and ``shadow_predictions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from ..errors import ValidationFailed
from ..evidence import EvidenceQuery, Missing, Observation
from ..ingest.shadow import shadow_count
from ..registry.aliases import alias_version
from ..registry.models import ModelVersion, Stage
from ..registry.stages import holders
from .comparisons import check_metric, compare_rows

CHAMPION_ALIAS = "champion"
#: The window a rule compares over when it names none: the week before the evaluation.
DEFAULT_DAYS = 7.0


def champion_of(query: EvidenceQuery) -> ModelVersion | None:
    """The version the ``champion`` alias names, else the newest production version."""
    named = alias_version(query.session, query.model_id, CHAMPION_ALIAS)
    if named is not None:
        return named
    serving = holders(query.session, query.model_id, Stage.PRODUCTION.value)
    return max(serving, key=lambda row: row.version, default=None)


def _champion_or_missing(query: EvidenceQuery) -> ModelVersion | Missing:
    champion = champion_of(query)
    if champion is None:
        return Missing(
            f"Model {query.model_name!r} has no champion: no version has the alias "
            f"{CHAMPION_ALIAS!r} and none is in production."
        )
    if champion.id == query.version_id:
        return Missing(f"v{query.version_number} is the champion itself: nothing to compare.")
    return champion


def challenger_comparison(query: EvidenceQuery, params: Mapping[str, Any]) -> Observation | Missing:
    """The comparison report of the version (challenger) against the champion over the last
    ``params['days']`` days, in ``params['test']`` mode (``shadow`` or ``ab``)."""
    champion = _champion_or_missing(query)
    if isinstance(champion, Missing):
        return champion
    challenger = query.session.get(ModelVersion, query.version_id)
    if challenger is None:
        return Missing(f"Version {query.version_number} is not stored.")
    try:
        metric = check_metric(challenger.model.task, params.get("metric"))
    except ValidationFailed as refused:
        return Missing(refused.message)
    mode = params.get("test") or "shadow"
    end = query.now
    start = end - timedelta(days=float(params.get("days") or DEFAULT_DAYS))
    report = compare_rows(
        query.session,
        champion,
        challenger,
        start=start,
        end=end,
        mode=mode,
        metric=metric,
        minimum=params.get("minimum"),
    )
    link_query = urlencode(
        {
            "champion": champion.version,
            "challenger": challenger.version,
            "mode": mode,
            "metric": metric,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
    )
    return Observation(
        value=report.as_json(),
        source=f"{mode} comparison of v{challenger.version} with v{champion.version}",
        link=f"/api/v1/models/{quote(query.model_name, safe='')}/comparison?{link_query}",
        detail={"champion": champion.version, "verdict": report.verdict.value},
    )


def shadow_predictions(query: EvidenceQuery, params: Mapping[str, Any]) -> Observation | Missing:
    """How many predictions the version logged in the shadow of the champion (over the last
    ``params['days']`` days, or ever)."""
    champion = _champion_or_missing(query)
    if isinstance(champion, Missing):
        return champion
    days = params.get("days")
    start = None if days is None else query.now - timedelta(days=float(days))
    count = shadow_count(query.session, query.version_id, champion.id, start, query.now)
    path = f"/api/v1/models/{quote(query.model_name, safe='')}/versions/{query.version_number}"
    return Observation(
        value=count,
        source=f"v{query.version_number}'s predictions in the shadow of v{champion.version}",
        link=f"{path}/traffic",
        detail={"champion": champion.version},
    )
