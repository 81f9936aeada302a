"""The policy pages: the list, a policy's YAML highlighted on the server (escaped), its
versions with a diff of each against the one before, and the requests it judged."""

from __future__ import annotations

from typing import Any

import pytest
from markupsafe import escape

from assay_server.web.policy_pages import diff_lines
from assay_server.web.yaml_highlight import highlight, highlight_line
from tests.api.factories import API, CHURN_FEATURES

from .html_tables import table_rows

GATE_V1 = """# who may ship churn
name: gate
description: Accuracy before production.
applies_to: {stage: [production]}
rules:
  - {id: acc, check: benchmark_metric, benchmark: holdout, metric: accuracy, op: ">=", value: 0.8}
approvals: {required: 1}
"""
GATE_V2 = GATE_V1.replace("value: 0.8}", "value: 0.9}").replace(
    "approvals: {required: 1}", "approvals: {required: 2}"
)
STAGING_ONLY = """name: staging-check
description: "<script>alert('p')</script>"
applies_to: {stage: [staging]}
rules:
  - {id: lineage, check: lineage_present, fields: [git_commit]}
"""


def _apply(client: Any, headers: dict[str, str], **files: str) -> None:
    body = {"files": [{"filename": name, "content": text} for name, text in files.items()]}
    response = client.post(f"{API}/policies", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def _post(client: Any, path: str, headers: dict[str, str], body: Any) -> Any:
    response = client.post(f"{API}{path}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.json


def _page(browser: Any, path: str, status: int = 200) -> str:
    response = browser.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


@pytest.fixture
def policies(client: Any, headers_for: Any) -> dict[str, Any]:
    """``gate`` in two versions (v1 judged request 1, v2 request 2), and ``staging-check``."""
    admin, dev = headers_for("admin", "root"), headers_for("contributor", "dev")
    _apply(client, admin, **{"gate.yaml": GATE_V1, "staging.yaml": STAGING_ONLY})
    _post(client, "/models", admin, {"name": "churn", "task": "binary_classification"})
    for _ in range(2):
        _post(
            client, "/models/churn/versions", dev, {"features": CHURN_FEATURES, "target": "churned"}
        )
    first = _post(client, "/models/churn/versions/1/promotions", dev, {"stage": "production"})
    _apply(client, admin, **{"gate.yaml": GATE_V2})
    second = _post(client, "/models/churn/versions/2/promotions", dev, {"stage": "production"})
    return {"first": first, "second": second}


def test_the_list_shows_each_policy_with_its_version_scope_and_rules(signed_in, policies):
    page = _page(signed_in("viewer", "auditor"), "/policies")
    rows = {row.id: row.cells for row in table_rows(page, "policies")}
    assert set(rows) == {"policy-gate", "policy-staging-check"}
    gate = rows["policy-gate"]
    assert gate[0].startswith("gate Accuracy before production.")
    assert gate[1:4] == ["v2", "stage: production", "acc"]
    assert gate[4] == "2 × approver"
    assert rows["policy-staging-check"][2] == "stage: staging"


def test_a_policy_page_shows_the_yaml_highlighted_and_the_diff_against_the_version_before(
    signed_in, policies
):
    page = _page(signed_in("viewer", "auditor"), "/policies/gate")
    assert '<span class="muted">v2 (in force)</span>' in page
    assert '<span class="y-comment"># who may ship churn</span>' in page
    assert '<span class="y-key">name</span>: gate' in page
    assert '<span class="y-number">0.9</span>' in page
    diff = table_rows(page, "policy-diff")
    removed = [row.cells[3] for row in diff if "diff-removed" in row.classes]
    added = [row.cells[3] for row in diff if "diff-added" in row.classes]
    assert any("value: 0.8}" in line for line in removed)
    assert any("value: 0.9}" in line for line in added)
    assert removed[-1] == "approvals: {required: 1}" and added[-1] == "approvals: {required: 2}"
    versions = [row.cells[0] for row in table_rows(page, "policy-versions")]
    assert versions == ["v2", "v1"]


def test_an_older_version_is_shown_on_request_and_the_first_has_nothing_to_compare(
    signed_in, policies
):
    viewer = signed_in("viewer", "auditor")
    page = _page(viewer, "/policies/gate?version=1")
    assert "(in force: v2)" in page
    assert '<span class="y-number">0.8</span>' in page
    assert "The first version: nothing to compare with." in page
    assert "This policy has no version" in _page(viewer, "/policies/gate?version=7", status=404)


def test_the_requests_a_policy_judged_are_listed_with_its_verdict_and_version(signed_in, policies):
    viewer = signed_in("viewer", "auditor")
    page = _page(viewer, "/policies/gate")
    rows = {row.id: row.cells for row in table_rows(page, "judged")}
    first, second = policies["first"]["id"], policies["second"]["id"]
    assert set(rows) == {f"judged-{first}", f"judged-{second}"}
    assert rows[f"judged-{second}"][1:4] == ["churn v2", "production", "blocked"]
    assert rows[f"judged-{second}"][4] == "blocked by v2 not passed: acc"
    assert rows[f"judged-{first}"][4] == "blocked by v1 not passed: acc"
    assert '<a href="/models/churn/versions/2">v2</a>' in page
    # a policy that applies to none of them judged none
    other = _page(viewer, "/policies/staging-check")
    assert "No promotion request has been judged by this policy." in other


def test_hostile_policy_text_is_escaped_and_unknown_policies_are_404_pages(signed_in, policies):
    viewer = signed_in("viewer", "auditor")
    page = _page(viewer, "/policies/staging-check")
    assert "<script>alert('p')</script>" not in page
    assert str(escape("<script>alert('p')</script>")) in page
    assert "No policy named" in _page(viewer, "/policies/nope", status=404)


# the pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "html"),
    [
        ("name: gate", '<span class="y-key">name</span>: gate'),
        (
            "  value: -1.5e3  # max",
            '  <span class="y-key">value</span>: <span class="y-number">-1.5e3</span>  '
            '<span class="y-comment"># max</span>',
        ),
        ("ok: true", '<span class="y-key">ok</span>: <span class="y-literal">true</span>'),
        (
            '- {op: "<=", v: 2}',
            '- {<span class="y-key">op</span>: <span class="y-string">&#34;&lt;=&#34;</span>, '
            '<span class="y-key">v</span>: <span class="y-number">2</span>}',
        ),
        ("  going to production: no", "  going to production: no"),  # prose stays prose
        ("text: the model's 2 checks", '<span class="y-key">text</span>: the model&#39;s 2 checks'),
        ("url: http://a/#b", '<span class="y-key">url</span>: http://a/#b'),
        ("<b>: x", "&lt;b&gt;: x"),
    ],
)
def test_highlighting_wraps_tokens_and_escapes_every_character(line: str, html: str) -> None:
    assert str(highlight_line(line)) == html


def test_highlighting_keeps_every_line_and_its_text() -> None:
    source = GATE_V1 + STAGING_ONLY
    rendered = str(highlight(source))
    assert rendered.count("\n") == source.count("\n") - 1
    assert "<script>" not in rendered


def test_a_diff_lists_removed_then_added_lines_with_their_numbers_and_gaps() -> None:
    old = "\n".join(f"line {n}" for n in range(1, 21))
    new = old.replace("line 3", "line three").replace("line 18", "line eighteen")
    lines = diff_lines(old, new, context=1)
    kinds = [(line.kind, line.old_number, line.new_number) for line in lines]
    assert kinds == [
        ("same", 2, 2),
        ("removed", 3, None),
        ("added", None, 3),
        ("same", 4, 4),
        ("gap", None, None),
        ("same", 17, 17),
        ("removed", 18, None),
        ("added", None, 18),
        ("same", 19, 19),
    ]
    assert diff_lines(old, old) == []
