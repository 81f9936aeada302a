"""Every page of the UI, as every role, in a real Chromium at 1366x768 against a live server.

The pages are found in the app's URL map: every GET route of the ``web`` blueprint without
arguments, and each route with arguments once per seeded value of them (every report, so each
kind of report page is seen). A page added later is covered as soon as it is routed; a route
with an argument this test cannot fill fails it (add a seeded value to ``_arguments``).

Each page must answer 200 (403 for a role below the route's), write nothing on the console,
fit 1366 px without a horizontal scroll bar, have no serious or critical axe-core violation,
and have drawn every chart (``div.plot[data-drawn]``). Chromium opens each page as the viewer
and the admin (the fewest and the most controls; the roles between see the same markup with
some of the buttons); axe-core runs as the admin, whose pages hold every control the others'
do, and on one refusal page (as the viewer too it took 11 s of the test's 50 s on 2 cores).
As the roles between, each page's status is checked over HTTP with the same session. A
screenshot of each page with a problem goes to the test's tmp dir; those of the report pages
and the alerts inbox, as the admin, to ``docs/screenshots/`` when ``ASSAY_DOCS_SCREENSHOTS=1``.

The SQLite run is enough: the pages are the same whatever the store.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from assay_server.access import required_role_for
from assay_server.alerts.outbox import Outbox
from assay_server.db import Database
from assay_server.monitoring.html import PAGE_KINDS, build_page
from assay_server.roles import ROLE_NAMES, Role
from assay_server.settings import Settings
from tests.api.factories import API, declared_version
from tests.conftest import LiveServer
from tests.monitoring.conftest import Monitored

from ..browser_checks import SCREEN, docs_screenshot
from ..scenario import Scenario, fail_every_delivery, monitor_and_alert

WIDTH = SCREEN["width"]
TIMEOUT_MS = 20_000
#: routes of the blueprint that are not pages of the UI, and why
NOT_PAGES = {
    "web.evidently_document": "Evidently's own document, shown framed by web.evidently_page",
    "web.plotly_js": "a script",
    "web.favicon": "an icon",
    "web.audit_export": "a download",
}
GATE = """
name: every-page-gate
description: A benchmark before production, and one approver.
applies_to: {stage: [production]}
rules:
  - id: accuracy
    check: benchmark_metric
    benchmark: holdout
    metric: accuracy
    op: ">="
    value: 0.7
approvals: {required: 1, role: approver, separation_of_duties: true}
"""
REFUSED_PAGE = "the server responded with a status of 403"
AXE = Axe()
#: opened in Chromium: the roles that see the fewest and the most controls
BROWSER_ROLES = ("viewer", "admin")
AXE_ROLES = ("admin",)
AXE_OPTIONS = {"resultTypes": ["violations"], "iframes": False}


@dataclass(frozen=True)
class Seeded:
    """What the pages are opened with: the scenario, the promotion and the policy."""

    scenario: Scenario
    promotion_id: int
    policy: str


def _post(monitored: Monitored, path: str, body: dict[str, Any], expect_status: int) -> Any:
    response = monitored.client.post(f"{API}{path}", json=body, headers=monitored.headers)
    assert response.status_code == expect_status, response.get_data(as_text=True)
    return response.json


@pytest.fixture
def seeded(
    monitored: Monitored, receiver: Any, outbox: Outbox, db: Database, settings: Settings
) -> Seeded:
    """churn v1 (monitored: drifted predictions with labels and groups, a report of each kind,
    incidents with failed deliveries) and v2, a policy, and v1's promotion awaiting approval."""
    scenario = fail_every_delivery(
        monitor_and_alert(monitored, receiver), monitored, receiver, outbox
    )
    declared_version(monitored.client, monitored.headers, "churn")
    _post(monitored, "/policies", {"files": [{"filename": "gate.yaml", "content": GATE}]}, 200)
    benchmark = {"name": "holdout", "metrics": {"accuracy": 0.8, "f1": 0.75}}
    _post(monitored, "/models/churn/versions/1/benchmarks", benchmark, 201)
    promotion = _post(
        monitored,
        "/models/churn/versions/1/promotions",
        {"stage": "production", "reason": "the gate passes"},
        201,
    )
    assert promotion["status"] == "pending_approval", promotion
    # Evidently's pages built now, not while a page waits for them (a race of the test)
    for kind, report_id in scenario.reports.items():
        if kind in PAGE_KINDS:
            build_page(db, settings, report_id)
    return Seeded(scenario, int(promotion["id"]), "every-page-gate")


def _arguments(seeded: Seeded, endpoint: str) -> dict[str, list[Any]]:
    """Seeded values per route argument; every report, so each kind is seen (for Evidently's
    page, every report of a kind that has one)."""
    scenario = seeded.scenario
    reports = scenario.reports
    if endpoint == "web.evidently_page":
        reports = {kind: rid for kind, rid in reports.items() if kind in PAGE_KINDS}
    return {
        "name": [scenario.model],
        "version": [1],
        "report_id": sorted(reports.values()),
        "alert_id": [scenario.quality_alert["id"]],
        "delivery_id": [scenario.deliveries[0]["id"]],
        "policy_name": [seeded.policy],
        "promotion_id": [seeded.promotion_id],
        "request_id": [seeded.promotion_id],
    }


@dataclass(frozen=True)
class Visit:
    """One page to open: its endpoint, path, and the lowest role the route allows."""

    endpoint: str
    path: str
    role: Role | str


def _pages(app: Any, seeded: Seeded) -> list[Visit]:
    """Every GET page of the web blueprint, each with arguments once per seeded value."""
    visits = []
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
            if not rule.endpoint.startswith("web.") or "GET" not in (rule.methods or ()):
                continue
            if rule.endpoint in NOT_PAGES:
                continue
            values = _arguments(seeded, rule.endpoint)
            missing = sorted(set(rule.arguments) - set(values))
            assert not missing, f"{rule.rule}: seed a value for {missing} in _arguments"
            names = sorted(rule.arguments)
            for combination in itertools.product(*(values[name] for name in names)):
                path = url_for(rule.endpoint, **dict(zip(names, combination, strict=True)))
                role = required_role_for(app, rule.endpoint, "GET")
                assert role is not None, f"{rule.rule} declares no role"
                visits.append(Visit(rule.endpoint, path, role))
    return visits


def _sign_in(page: Page, live_server: LiveServer, token: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/login")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    expect(page.locator("#signed-in-as")).to_be_visible()


def _allowed(role: str, required: Role | str) -> bool:
    return not isinstance(required, Role) or Role(role).allows(required)


def _check(page: Page, messages: list[str], *, with_axe: bool) -> list[str]:
    """What is wrong with the page just opened (nothing, for a good page)."""
    problems = list(messages)
    page.wait_for_load_state("load")
    plots = page.locator("div.plot")
    if plots.count():
        try:
            page.wait_for_function(
                "document.querySelectorAll('div.plot:not([data-drawn])').length === 0",
                timeout=TIMEOUT_MS,
            )
        except PlaywrightTimeout:  # reported with the others below
            drawn = page.locator("div.plot[data-drawn]").count()
            problems.append(f"only {drawn} of {plots.count()} charts drew")
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > WIDTH:
        problems.append(f"scrollWidth {width} > {WIDTH}")
    violations = AXE.run(page, options=AXE_OPTIONS).response["violations"] if with_axe else []
    for violation in violations:
        if violation["impact"] in ("serious", "critical"):
            targets = [node["target"] for node in violation["nodes"][:3]]
            problems.append(f"axe {violation['impact']} {violation['id']}: {targets}")
    return problems


def _file_name(visit: Visit, role: str) -> str:
    return f"{role}-{re.sub(r'[^A-Za-z0-9]+', '-', visit.path).strip('-') or 'index'}.png"


def _docs_screenshot(visit: Visit, role: str, report_kinds: dict[int, str]) -> str | None:
    """The name under docs/screenshots/ of the pages of this task, as the admin sees them."""
    if role != "admin":
        return None
    if visit.endpoint == "web.alerts_page":
        return "alerts.png"
    if visit.endpoint == "web.report_page":
        report_id = int(visit.path.rsplit("/", 1)[1])
        return f"report-{report_kinds[report_id].replace('_', '-')}.png"
    return None


@pytest.mark.slow
def test_every_page_as_every_role_fits_is_accessible_quiet_and_draws_its_charts(
    app: Any,
    live_server: LiveServer,
    seeded: Seeded,
    token_factory: Any,
    watched_page: tuple[Page, list[str]],
    tmp_path: Path,
):
    page, messages = watched_page
    visits = _pages(app, seeded)
    endpoints = {visit.endpoint for visit in visits}
    assert {"web.index", "web.alerts_page", "web.report_page"} <= endpoints
    report_kinds = {report_id: kind for kind, report_id in seeded.scenario.reports.items()}
    problems: list[str] = []
    opened = 0
    refusal_checked = False
    for role in ROLE_NAMES:
        _sign_in(page, live_server, token_factory(role, f"every-{role}"))
        for visit in visits:
            messages.clear()
            expected = 200 if _allowed(role, visit.role) else 403
            where = f"{role} {visit.path}"
            if role not in BROWSER_ROLES:  # the roles between: who gets in is what differs
                status = page.request.get(f"{live_server.url}{visit.path}").status
                if status != expected:
                    problems.append(f"{where}: status {status}, expected {expected}")
                continue
            response = page.goto(f"{live_server.url}{visit.path}")
            assert response is not None
            if response.status != expected:
                problems.append(f"{where}: status {response.status}, expected {expected}")
                continue
            opened += 1
            if expected == 403:  # Chromium logs the page's own status; nothing else may show
                messages[:] = [m for m in messages if REFUSED_PAGE not in m]
            # axe as the admin, who sees every control (the others see the same markup with
            # fewer buttons), and on one refusal
            with_axe = (expected == 200 and role in AXE_ROLES) or not refusal_checked
            refusal_checked = refusal_checked or expected == 403
            found = _check(page, messages, with_axe=with_axe)
            problems += [f"{where}: {problem}" for problem in found]
            if found:  # what was wrong, to look at (2.5 s for every page as the admin)
                page.screenshot(path=tmp_path / _file_name(visit, role), full_page=True)
            docs_name = _docs_screenshot(visit, role, report_kinds)
            if docs_name:
                page.screenshot(path=docs_screenshot(docs_name), full_page=True)
    print(
        f"opened {opened} pages as {len(ROLE_NAMES)} roles; screenshots of problems in {tmp_path}"
    )
    assert problems == [], "\n".join(problems)
