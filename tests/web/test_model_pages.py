"""The model list and the model page through the Flask test client: health at a glance (checked
against the API's own answers), the filters and search, the charts' figures and the same
numbers in words, stages, incidents, benchmarks, stage history and promotions."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import event

from tests.api.factories import API, create_model, register_version
from tests.monitoring.conftest import Monitored

from .html_tables import table_rows
from .scenario import Scenario

SHOWN = 1e-3  # charts carry four significant digits

ROW = re.compile(r'<tr(?: class="(?P<classes>[^"]*)")? data-model="(?P<name>[^"]+)">')


def _listed(page: str) -> list[str]:
    """The models of the list, in its order."""
    return [match["name"] for match in ROW.finditer(page)]


def _rows(page: str) -> dict[str, Any]:
    return {row.cells[0].split()[0]: row for row in table_rows(page, "models")}


def _figure(page: str, name: str) -> dict[str, Any]:
    """The plotly figure the page hands to chart ``name``."""
    match = re.search(
        rf'<script type="application/json" id="chart-{name}-figure">(.*?)</script>', page, re.S
    )
    assert match, f"no chart {name!r} on the page"
    return json.loads(match.group(1))


def _facts(page: str, name: str) -> str:
    match = re.search(rf'id="facts-{name}">(.*?)</(?:ul|p)>', page, re.S)
    assert match, f"no facts under chart {name!r}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def _api(monitored: Monitored, path: str, **query: Any) -> Any:
    response = monitored.client.get(f"{API}{path}", headers=monitored.headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _post(monitored: Monitored, path: str, body: dict[str, Any]) -> Any:
    response = monitored.client.post(f"{API}{path}", json=body, headers=monitored.headers)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.json


@pytest.fixture
def models(scenario: Scenario, monitored: Monitored) -> Scenario:
    """Besides the unhealthy ``churn`` (alerts, failed checks): three quiet models."""
    client, headers = monitored.client, monitored.headers
    create_model(client, headers, "calm", risk_tier="low", owner="ops", tags=["batch"])
    create_model(client, headers, "pricing", risk_tier="high", owner="growth", tags=["retail"])
    create_model(client, headers, "zeta", risk_tier="medium", owner="growth")
    for name in ("pricing", "zeta"):
        metadata = {"features": [{"name": "age", "kind": "numerical"}]}
        assert register_version(client, headers, name, metadata=metadata).status_code == 201
    _post(monitored, "/models/pricing/versions/1/stage", {"stage": "production", "reason": "go"})
    return scenario


def test_the_list_puts_the_unhealthy_model_first_with_its_alerts_and_last_verdicts(
    models: Scenario, monitored: Monitored, signed_in: Any
) -> None:
    page = signed_in("viewer").get("/").get_data(as_text=True)
    assert _listed(page) == ["churn", "calm", "pricing", "zeta"]
    rows = _rows(page)
    assert rows["churn"].classes == {"unhealthy"}
    assert rows["calm"].classes == set()

    open_alerts = _api(monitored, "/alerts", status="open", model="churn")
    by_severity = {s: sum(a["severity"] == s for a in open_alerts) for s in ("critical", "warning")}
    expected = " ".join(f"{n} {s}" for s, n in by_severity.items() if n)
    assert expected and rows["churn"].cells[6] == expected

    verdicts = {r["kind"]: r["status"] for r in monitored.reports()}
    chips = rows["churn"].cells[7]
    for kind, status in verdicts.items():
        assert f"{kind.replace('_', ' ')}: {status.replace('_', ' ')}" in chips
    assert rows["calm"].cells[6:8] == ["none", "no runs"]
    assert rows["pricing"].cells[4:6] == ["v1", "—"]  # production, staging
    assert rows["pricing"].cells[2] == "high"
    assert 'href="/alerts?model=churn&amp;severity=critical"' in page


def test_the_trend_follows_the_models_headline_figure(
    models: Scenario, monitored: Monitored, signed_in: Any
) -> None:
    monitored.clock.advance(days=1)
    monitored.log(400, seed=9, shift=0.0, prefix="later")
    assert monitored.run(models.monitor_id)["status"] == "succeeded"
    page = signed_in("viewer").get("/").get_data(as_text=True)
    latest = monitored.reports(kind="performance")[0]["summary"]
    churn = page[page.index('data-model="churn"') : page.index('data-model="pricing"')]
    figure = _figure(churn, r"trend-\d+")
    assert len(figure["data"][0]["y"]) == 2  # one mean per day
    assert figure["data"][0]["y"][-1] == pytest.approx(
        latest["metrics"][latest["metric"]], rel=SHOWN
    )
    assert "performance" in _rows(page)["churn"].cells[8]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"risk_tier": "high"}, ["pricing"]),
        ({"owner": "growth"}, ["pricing", "zeta"]),
        ({"tag": "batch"}, ["calm"]),
        ({"alerts": "1"}, ["churn"]),
        ({"q": "ZE"}, ["zeta"]),
        ({"q": "c"}, ["churn", "calm", "pricing"]),
        ({"owner": "growth", "risk_tier": "medium"}, ["zeta"]),
        ({"q": "nothing"}, []),
    ],
)
def test_filters_and_search_narrow_the_list(
    models: Scenario, signed_in: Any, query: dict[str, str], expected: list[str]
) -> None:
    response = signed_in("viewer").get("/", query_string=query)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _listed(page) == expected
    if not expected:
        assert "No model matches these filters." in page
    for name, value in query.items():
        if name in ("q", "owner", "tag"):
            assert f'name="{name}" value="{value}"' in page  # the form keeps what was asked


def test_an_unknown_risk_tier_is_a_clear_refusal(models: Scenario, signed_in: Any) -> None:
    response = signed_in("viewer").get("/?risk_tier=extreme")
    assert response.status_code == 422
    assert "Unknown risk tier &#39;extreme&#39;" in response.get_data(as_text=True)


def test_the_model_page_charts_what_the_reports_say_and_says_it_in_words(
    models: Scenario, monitored: Monitored, signed_in: Any
) -> None:
    viewer = signed_in("viewer")
    page = viewer.get("/models/churn").get_data(as_text=True)
    for linked in ("/models/churn/rollout", "/models/churn/comparison"):
        assert f'href="{linked}"' in page
        assert viewer.get(linked).status_code == 200
    drift = monitored.report(models.reports["drift"])

    share = _figure(page, "drift-share")
    assert share["data"][0]["y"] == [pytest.approx(drift["summary"]["share_drifted"], rel=SHOWN)]
    assert share["data"][1]["y"][0] == drift["summary"]["levels"]["alert"]  # the alert level
    heatmap = _figure(page, "feature-drift")["data"][0]
    assert heatmap["type"] == "heatmap"
    assert heatmap["y"] == sorted(c["feature"] for c in drift["detail"]["columns"])
    drifted = {c["feature"] for c in drift["detail"]["columns"] if c["drifted"]}
    for row, feature in zip(heatmap["z"], heatmap["y"], strict=True):
        assert (row[0] >= 1) == (feature in drifted)  # 1 = at the threshold
    assert f"{sorted(drifted)[0]}: drifted in 1 of 1 runs" in _facts(page, "feature-drift")

    performance = monitored.report(models.reports["performance"])["summary"]
    metric = performance["metric"]
    traces = {t["name"]: t for t in _figure(page, "performance")["data"]}
    assert traces["realised"]["y"] == [pytest.approx(performance["metrics"][metric], rel=SHOWN)]
    assert traces[f"benchmark {metric}"]["y"][0] == performance["baseline"]["metrics"][metric]

    bias = monitored.report(models.reports["bias"])["detail"]["features"]
    groups = {
        f"{f['feature']} = {g['group']}": g
        for f in bias
        for g in f["groups"]
        if not g["below_min_count"]
    }
    rates = {t["name"]: t["y"] for t in _figure(page, "selection-rate")["data"]}
    assert rates == {k: [pytest.approx(g["selection_rate"], rel=SHOWN)] for k, g in groups.items()}
    assert {t["name"] for t in _figure(page, "tpr")["data"]} == set(groups)

    assert _figure(page, "volume")["data"][0]["y"] == [performance_rows(monitored, models)]
    coverage = _figure(page, "label-coverage")["data"][0]["y"]
    assert coverage == [pytest.approx(performance["label_coverage"], rel=SHOWN)]
    assert "Latest label coverage" in _facts(page, "label-coverage")


def performance_rows(monitored: Monitored, models: Scenario) -> int:
    return int(monitored.report(models.reports["performance"])["rows_total"])


def test_the_model_page_heads_with_stages_and_open_incidents(
    models: Scenario, monitored: Monitored, signed_in: Any
) -> None:
    _post(monitored, "/models/churn/versions/1/stage", {"stage": "staging", "reason": "try"})
    page = signed_in("viewer").get("/models/churn").get_data(as_text=True)
    stages = page[page.index('id="stages"') : page.index('id="incidents"')]
    assert 'Staging: <a href="/models/churn/versions/1">v1</a>' in stages
    assert 'Production: <span class="muted">none</span>' in stages
    incidents = page[page.index('id="incidents"') : page.index('id="over-time"')]
    open_alerts = _api(monitored, "/alerts", status="open", model="churn")
    assert f'Open incidents <span class="muted">({len(open_alerts)})</span>' in incidents
    for alert in open_alerts:
        assert f"· {alert['subject']} ·" in incidents
    assert 'href="/alerts?model=churn"' in incidents


def test_the_model_page_lists_versions_benchmarks_stage_history_and_promotions(
    models: Scenario, monitored: Monitored, signed_in: Any
) -> None:
    _post(
        monitored,
        "/models/churn/versions/1/benchmarks",
        {"name": "holdout", "metrics": {"auc": 0.8}},
    )
    _post(monitored, "/models/churn/versions/1/stage", {"stage": "staging", "reason": "try"})
    promotion = _post(monitored, "/models/churn/versions/1/promotions", {"stage": "production"})
    page = signed_in("viewer").get("/models/churn").get_data(as_text=True)

    [version] = table_rows(page, "versions")
    assert version.cells[:2] == ["1", "staging"]
    assert 'href="/models/churn/versions/1"' in page
    [board] = table_rows(page, "leaderboard-1")
    assert board.cells[:3] == ["v1", "staging", "0.8"]
    history = page[page.index('id="stage-history"') :]
    assert "v1</a> → staging</strong>" in history
    assert ", now" in history
    requested, overridden = table_rows(page, "promotions")  # newest first
    status = promotion["status"].replace("_", " ")
    assert requested.cells[:4] == [str(promotion["id"]), "v1", "production", status]
    assert overridden.cells[1:4] == ["v1", "staging", "overridden"]  # the admin's direct move


@pytest.mark.parametrize("days", ["7", "90"])
def test_the_time_range_is_chosen_from_the_page(
    models: Scenario, monitored: Monitored, signed_in: Any, days: str
) -> None:
    monitored.clock.advance(days=10)  # the scenario's run is now 10 days old
    page = signed_in("viewer").get(f"/models/churn?days={days}").get_data(as_text=True)
    assert f"Over the last {days} days" in page
    assert f'href="/models/churn?days={days}" class="current" aria-current="page"' in page
    points = _figure(page, "drift-share")["data"][0]["y"]
    assert len(points) == (0 if days == "7" else 1)
    if days == "7":
        assert "No reports in this range." in _facts(page, "drift-share")


def test_an_unknown_time_range_is_a_clear_refusal(models: Scenario, signed_in: Any) -> None:
    response = signed_in("viewer").get("/models/churn?days=12")
    assert response.status_code == 422
    assert "Show the last 7, 30, 90 days" in response.get_data(as_text=True)


def test_the_list_reads_every_models_stages_in_one_query(
    client: Any, db: Any, admin_headers: dict[str, str], signed_in: Any
) -> None:
    def add_models(names: list[str]) -> None:
        for name in names:
            create_model(client, admin_headers, name)
            metadata = {"features": [{"name": "age", "kind": "numerical"}]}
            for _ in range(2):
                assert (
                    register_version(client, admin_headers, name, metadata=metadata).status_code
                    == 201
                )
            for version, stage in ((1, "production"), (2, "staging")):
                moved = client.post(
                    f"{API}/models/{name}/versions/{version}/stage",
                    json={"stage": stage, "reason": "listed"},
                    headers=admin_headers,
                )
                assert moved.status_code == 200, moved.get_data(as_text=True)

    viewer = signed_in("viewer")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    def statements_of_the_list() -> tuple[int, str]:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            page = viewer.get("/").get_data(as_text=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements), page

    add_models(["m-a", "m-b"])
    few, _page = statements_of_the_list()
    add_models([f"m-{i}" for i in range(10)])
    many, page = statements_of_the_list()

    assert many == few, "the list's queries must not grow with its models"
    rows = _rows(page)
    assert len(rows) == 12
    assert {tuple(row.cells[4:6]) for row in rows.values()} == {("v1", "v2")}
