"""The version page through the Flask test client: its evidence (checked against the API and
the reference data itself), the policies' verdict rule by rule, Approve / Reject through the
governance service (audited; the separation-of-duties refusal flashed, not a 500), the
explanation form and the compliance report under the page's policy.

``seed`` (below) is shared with the inbox and browser tests.
"""

from __future__ import annotations

import hashlib
import html
import re
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
import skops.io

from tests.api.factories import API, create_model, parquet_bytes, register_version
from tests.explain import estimators as est

from .forms import FormClient
from .html_tables import table_rows

GATE = """
name: ui-gate
description: Evidence before a version leaves development.
applies_to: {stage: [staging, production]}
rules:
  - {id: lineage, check: lineage_present, fields: [dataset_hash, git_commit]}
  - {id: accuracy, check: benchmark_metric, benchmark: holdout, metric: accuracy,
     op: ">=", value: 0.8}
approvals: {required: %d}
"""
EXPLAINED = """
name: ui-explained
applies_to: {stage: [production]}
rules:
  - {id: explainable, check: explanation_available}
  - {id: f1, check: benchmark_metric, benchmark: holdout, metric: f1, op: ">=", value: 0.95}
  - {id: golden, check: benchmark_metric, benchmark: golden, metric: accuracy, op: ">=", value: 0.8}
"""
MODEL = "plans"
LINEAGE = {
    "dataset_uri": "s3://data/plans.parquet",
    "dataset_hash": "sha256:abc123",
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "metrics": {"accuracy": 0.91},
}
MODEL_CARD = {"intended_use": "Which customers to call first", "limitations": "EU only"}


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed` made: the reference frame, the promotion request's id, and API
    headers of each person."""

    reference: pd.DataFrame
    promotion_id: int
    headers: Callable[[str], dict[str, str]]

    @property
    def version_url(self) -> str:
        return f"/models/{MODEL}/versions/1"


PEOPLE = {
    "root": "admin",
    "dev": "contributor",  # registered the version
    "rita": "approver",  # requested the promotion (approvers may request)
    "carl": "contributor",
    "alice": "approver",
    "bob": "approver",
    "ann": "viewer",
}


def seed(
    client: Any,
    token_for: Callable[..., str],
    *,
    requester: str = "rita",
    required: int = 1,
) -> Seeded:
    """``plans`` v1 (a skops pipeline, its reference data, lineage, a model card and a
    holdout benchmark, registered by dev), two policies, and ``requester``'s request to move
    it to staging, pending approval."""
    tokens: dict[str, dict[str, str]] = {}

    def headers(name: str) -> dict[str, str]:
        if name not in tokens:
            tokens[name] = {"Authorization": f"Bearer {token_for(PEOPLE[name], name)}"}
        return tokens[name]

    policies = [{"filename": "gate.yaml", "content": GATE % required}]
    policies.append({"filename": "explained.yaml", "content": EXPLAINED})
    applied = client.post(f"{API}/policies", json={"files": policies}, headers=headers("root"))
    assert applied.status_code == 200, applied.get_data(as_text=True)
    create_model(client, headers("root"), MODEL, risk_tier="high", owner="team-retention")
    frame = est.plan_frame()
    metadata = {
        "features": [{"name": "age", "kind": "numerical"}, {"name": "plan", "kind": "categorical"}],
        "target": "churned",
        "lineage": LINEAGE,
        "model_card": MODEL_CARD,
        "description": "Calls the customers about to leave.",
    }
    registered = register_version(
        client,
        headers("dev"),
        MODEL,
        metadata=metadata,
        artifact=(skops.io.dumps(est.plan_pipeline(frame)), "model.skops"),
        reference=(parquet_bytes(frame), "reference.parquet"),
    )
    assert registered.status_code == 201, registered.get_data(as_text=True)
    benchmark = {"name": "holdout", "metrics": {"accuracy": 0.9, "f1": 0.85}}
    posted = client.post(
        f"{API}/models/{MODEL}/versions/1/benchmarks", json=benchmark, headers=headers("dev")
    )
    assert posted.status_code == 201, posted.get_data(as_text=True)
    requested = client.post(
        f"{API}/models/{MODEL}/versions/1/promotions",
        json={"stage": "staging", "reason": "ready for the pilot"},
        headers=headers(requester),
    )
    assert requested.status_code == 201, requested.get_data(as_text=True)
    assert requested.json["status"] == "pending_approval", requested.json
    return Seeded(frame, int(requested.json["id"]), headers)


def flashes(page: str) -> list[str]:
    """The flashed messages of a page, in order."""
    return [
        html.unescape(re.sub(r"\s+", " ", text).strip())
        for text in re.findall(r'<p class="flash flash-\w+" role="status">(.*?)</p>', page, re.S)
    ]


def api_get(client: Any, seeded: Seeded, path: str, **query: Any) -> Any:
    response = client.get(f"{API}{path}", headers=seeded.headers("root"), query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


@pytest.fixture
def seeded(client: Any, token_for: Callable[..., str]) -> Seeded:
    return seed(client, token_for)


def _page(browser: FormClient, url: str) -> str:
    response = browser.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_data(as_text=True))


# what the page shows -----------------------------------------------------------------------


def test_a_viewer_reads_the_versions_evidence_and_sees_no_buttons(client, seeded, signed_in):
    page = _page(signed_in("viewer", "ann"), seeded.version_url)
    stored = api_get(client, seeded, f"/models/{MODEL}/versions/1")

    lineage = {row.cells[0]: row.cells[1] for row in table_rows(page, "lineage", header=True)}
    assert lineage["dataset hash"] == LINEAGE["dataset_hash"]
    assert lineage["git commit"] == LINEAGE["git_commit"]
    card = {row.cells[0]: row.cells[1] for row in table_rows(page, "model-card", header=True)}
    assert card == {"intended use": MODEL_CARD["intended_use"], "limitations": "EU only"}
    artifact = {row.cells[0]: row.cells[1] for row in table_rows(page, "artifact", header=True)}
    assert artifact["Format"] == stored["artifact"]["format"] == "skops"
    assert artifact["SHA-256"] == stored["artifact"]["sha256"]
    assert artifact["Reference SHA-256"] == stored["reference"]["sha256"]
    schema = [row.cells for row in table_rows(page, "schema")]
    assert schema == [
        ["age", "feature", "numerical"],
        ["plan", "feature", "categorical"],
        ["churned", "target", "categorical"],
    ]

    # the reference summary is the profile's: checked against the data itself
    summary = {row.cells[0]: row.cells for row in table_rows(page, "reference-summary")}
    frame = seeded.reference
    assert float(summary["age"][4]) == pytest.approx(frame["age"].median(), rel=1e-3)
    assert (float(summary["age"][5]), float(summary["age"][6])) == (
        frame["age"].min(),
        frame["age"].max(),
    )
    assert summary["plan"][4] == frame["plan"].value_counts().idxmax()
    assert int(summary["plan"][2].replace(",", "")) == len(frame)
    assert page.count('<figure class="chart" id="chart-reference-') == 2  # a histogram per feature
    plan_counts = {row.cells[0]: int(row.cells[1]) for row in _bins(page, "plan")}
    assert plan_counts == frame["plan"].value_counts().to_dict()
    age_bins = sum(int(row.cells[1]) for row in _bins(page, "age"))
    assert age_bins == len(frame)

    assert "Approve" not in page and "Reject" not in page
    assert 'action="/models/plans/versions/1/explain"' not in page
    assert "Contributors can ask for an explanation" in page
    [row] = table_rows(page, "promotion-requests")
    assert row.id == f"promotion-{seeded.promotion_id}"
    assert row.cells[:2] == [f"#{seeded.promotion_id} → staging", "pending approval"]
    assert "by rita" in row.cells[2] and "ready for the pilot" in row.cells[2]
    assert "ui-gate/lineage: pass" in row.cells[3] and row.cells[4].startswith("0 of 1")


def _bins(page: str, feature: str) -> list[Any]:
    """The counts table under ``feature``'s histogram."""
    at = page.index(f"<summary>Counts of {feature}</summary>")
    table = page[at : page.index("</table>", at) + len("</table>")]
    return table_rows(table.replace('class="version-bins"', 'id="bins"', 1), "bins")


def test_the_policies_are_judged_rule_by_rule_with_observed_values_and_thresholds(
    seeded, signed_in
):
    viewer = signed_in("viewer", "ann")
    staging = _page(viewer, seeded.version_url)
    assert 'id="evaluation-outcome">pass<' in staging
    rules = {row.cells[0]: row.cells for row in table_rows(staging, "policy-ui-gate")}
    assert rules["accuracy"][2:5] == ["pass", "0.9", ">= 0.8"]
    assert rules["lineage"][2] == "pass"
    assert "policy-ui-explained" not in staging  # it applies to production only

    production = _page(viewer, seeded.version_url + "?stage=production")
    assert 'id="evaluation-outcome">blocked<' in production
    judged = {row.cells[0]: row.cells for row in table_rows(production, "policy-ui-explained")}
    assert judged["explainable"][2:5] == ["fail", "no", "available"]
    assert judged["golden"][2] == "missing evidence"
    assert judged["f1"][2:5] == ["fail", "0.85", ">= 0.95"]

    refused = viewer.get(seeded.version_url + "?stage=moon")
    assert refused.status_code == 422
    assert "Unknown stage 'moon'" in html.unescape(refused.get_data(as_text=True))
    assert viewer.get("/models/plans/versions/9").status_code == 404


CHAMPION = """
name: ui-champion
applies_to: {risk_tier: [high]}
rules:
  - {id: golden, check: benchmark_metric, benchmark: golden, metric: accuracy, op: ">=", value: 0.8}
governed_aliases: [champion]
"""


def test_the_policies_are_judged_for_each_governed_alias_too(seeded, client, signed_in):
    files = {"files": [{"filename": "champion.yaml", "content": CHAMPION}]}
    applied = client.post(f"{API}/policies", json=files, headers=seeded.headers("root"))
    assert applied.status_code == 200, applied.get_data(as_text=True)
    viewer = signed_in("viewer", "ann")
    staging = _page(viewer, seeded.version_url)
    assert 'href="/models/plans/versions/1?alias=champion#policies">alias champion</a>' in staging

    champion = _page(viewer, seeded.version_url + "?alias=champion")
    assert "Policy evaluation for alias champion" in champion
    assert 'id="evaluation-outcome">blocked<' in champion
    judged = {row.cells[0]: row.cells for row in table_rows(champion, "policy-ui-champion")}
    assert judged["golden"][2] == "missing evidence"
    assert "policy-ui-gate" not in champion  # the stages' policies do not govern the alias

    refused = viewer.get(seeded.version_url + "?alias=challenger")
    assert refused.status_code == 422
    assert "governs alias 'challenger'" in html.unescape(refused.get_data(as_text=True))


def test_the_compliance_report_opens_in_the_browser_with_only_its_own_style_allowed(
    seeded, signed_in
):
    page = _page(signed_in("viewer", "ann"), seeded.version_url)
    assert 'href="/models/plans/versions/1/compliance-report"' in page
    response = signed_in("viewer", "ann").get("/models/plans/versions/1/compliance-report")
    assert response.status_code == 200 and response.mimetype == "text/html"
    report = response.get_data(as_text=True)
    assert "Compliance report: plans, version 1" in report
    [style] = re.findall(r"<style>(.*?)</style>", report, re.S)
    digest = b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = response.headers["Content-Security-Policy"]
    assert f"style-src 'self' 'sha256-{digest}'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


# deciding ------------------------------------------------------------------------------------


def test_an_approver_approves_from_the_page_through_the_governance_service(
    client, seeded, signed_in
):
    alice = signed_in("approver", "alice")
    page = _page(alice, seeded.version_url)
    assert page.count('<button type="submit">Approve</button>') == 1
    response = alice.post(
        f"/promotions/{seeded.promotion_id}/approve",
        data={"comment": "checked the holdout", "next": seeded.version_url},
    )
    assert response.status_code == 302 and response.headers["Location"] == seeded.version_url
    page = _page(alice, seeded.version_url)
    assert flashes(page) == [
        f"Promotion request {seeded.promotion_id} approved: plans v1 is now in staging."
    ]
    assert 'id="stage">staging<' in page
    [row] = table_rows(page, "promotion-requests")
    assert row.cells[1] == "approved" and "alice approved: “checked the holdout”" in row.cells[4]

    stored = api_get(client, seeded, f"/promotions/{seeded.promotion_id}")
    assert stored["status"] == "approved"
    assert api_get(client, seeded, f"/models/{MODEL}/versions/1")["stage"] == "staging"
    audited = api_get(client, seeded, "/audit", action="promotion.approval_recorded")["items"]
    assert [(e["actor_name"], e["payload"]["comment"]) for e in audited] == [
        ("alice", "checked the holdout")
    ]


def test_the_requester_sees_the_separation_of_duties_refusal_as_a_message(
    client, seeded, signed_in
):
    rita = signed_in("approver", "rita")
    response = rita.post(
        f"/promotions/{seeded.promotion_id}/approve", data={"next": seeded.version_url}
    )
    assert response.status_code == 302
    page = _page(rita, seeded.version_url)
    assert flashes(page) == [
        "Separation of duties: 'rita' requested this promotion and cannot approve it."
    ]
    assert 'class="flash flash-error"' in page
    stored = api_get(client, seeded, f"/promotions/{seeded.promotion_id}")
    assert (stored["status"], stored["decisions"]) == ("pending_approval", [])


def test_a_contributor_requester_is_told_plainly_and_cannot_post_a_decision(
    client, token_for, signed_in
):
    seeded = seed(client, token_for, requester="carl")
    carl = signed_in("contributor", "carl")
    page = _page(carl, seeded.version_url)
    assert "You requested it: separation of duties means someone else approves it." in page
    assert "Approve</button>" not in page
    refused = carl.post(f"/promotions/{seeded.promotion_id}/approve", data={})
    assert refused.status_code == 403
    assert api_get(client, seeded, f"/promotions/{seeded.promotion_id}")["decisions"] == []


def test_a_rejection_needs_a_reason_and_is_final(client, seeded, signed_in):
    bob = signed_in("approver", "bob")
    url = f"/promotions/{seeded.promotion_id}/reject"
    bob.post(url, data={"comment": "   ", "next": seeded.version_url})
    [message] = flashes(_page(bob, seeded.version_url))
    assert message.startswith("comment:")
    assert api_get(client, seeded, f"/promotions/{seeded.promotion_id}")["status"] == (
        "pending_approval"
    )
    bob.post(url, data={"comment": "holdout too small", "next": seeded.version_url})
    page = _page(bob, seeded.version_url)
    assert flashes(page) == [f"Promotion request {seeded.promotion_id} rejected."]
    assert api_get(client, seeded, f"/promotions/{seeded.promotion_id}")["status"] == "rejected"
    bob.post(url, data={"comment": "again", "next": seeded.version_url})
    [again] = flashes(_page(bob, seeded.version_url))
    assert "is rejected; it cannot be rejected" in again
    events = api_get(client, seeded, "/audit", action="promotion.rejected")["items"]
    assert [e["actor_name"] for e in events] == ["bob"]


def test_a_forged_decision_without_the_csrf_token_changes_nothing(client, seeded, signed_in):
    alice = signed_in("approver", "alice")
    forged = alice.client.post(f"/promotions/{seeded.promotion_id}/approve", data={})
    assert forged.status_code == 400
    assert api_get(client, seeded, f"/promotions/{seeded.promotion_id}")["decisions"] == []


# explaining ----------------------------------------------------------------------------------


def test_the_explain_form_is_prefilled_with_typical_values(seeded, signed_in):
    page = _page(signed_in("contributor", "carl"), seeded.version_url)
    frame = seeded.reference
    median = f"{float(frame['age'].median()):.6g}"
    assert f'name="feature-age" value="{median}"' in page
    assert f'name="feature-plan" value="{frame["plan"].value_counts().idxmax()}"' in page


def test_a_row_that_is_not_a_number_is_refused_by_name(seeded, signed_in):
    carl = signed_in("contributor", "carl")
    response = carl.post(
        "/models/plans/versions/1/explain", data={"feature-age": "old", "feature-plan": "basic"}
    )
    assert response.status_code == 302
    assert flashes(_page(carl, seeded.version_url)) == [
        "Could not explain the prediction: age: Enter a number."
    ]
    assert signed_in("viewer", "ann").post("/models/plans/versions/1/explain").status_code == 403


def test_explaining_a_prediction_shows_limes_weights_as_a_table_and_a_chart(
    client, seeded, signed_in
):
    carl = signed_in("contributor", "carl")
    response = carl.post(
        "/models/plans/versions/1/explain", data={"feature-age": "40", "feature-plan": "basic"}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    [explanation_id] = re.findall(r"explanation=(\d+)", location)
    page = _page(carl, location)
    weights = table_rows(page, "lime-weights")
    assert weights[0].cells[:2] == ["plan=basic", "plan"]
    stored = api_get(client, seeded, f"/explanations/{explanation_id}")
    first = stored["result"]["explanations"][0]
    assert [row.cells[0] for row in weights] == [w["condition"] for w in first["weights"]]
    assert 'id="chart-lime"' in page
    assert stored["created_by"] == "carl"
    assert "explanation.requested" in {
        e["action"] for e in api_get(client, seeded, "/audit", actor="carl")["items"]
    }
    other = carl.get(seeded.version_url + "?explanation=999999")
    assert other.status_code == 404


def test_a_version_without_files_shows_what_it_lacks(client, seeded, signed_in):
    body = {"features": [{"name": "age", "kind": "numerical"}], "target": "churned"}
    response = client.post(
        f"{API}/models/{MODEL}/versions", json=body, headers=seeded.headers("dev")
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    page = _page(signed_in("contributor", "carl"), f"/models/{MODEL}/versions/2")
    artifact = {row.cells[0]: row.cells[1] for row in table_rows(page, "artifact", header=True)}
    assert artifact == {"Artifact": "none registered", "Reference data": "none registered"}
    assert "No reference dataset" in page and "chart-reference-" not in page
    assert 'name="feature-age" value=""' in page
    assert "No promotion requests for this version." in page
    rules = {row.cells[0]: row.cells[2] for row in table_rows(page, "policy-ui-gate")}
    assert rules == {"lineage": "missing evidence", "accuracy": "missing evidence"}
