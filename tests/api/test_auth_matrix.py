"""Every route of the URL map × every role: who gets in, who gets 401, who gets 403.

The table below is the specification. A route added to the app without a row here fails
``test_every_route_has_a_row_in_the_matrix``; a route without an authorization rule is
refused for everyone (``test_a_route_without_a_rule_is_refused_even_to_an_admin``).
"""

from __future__ import annotations

import re

import pytest
from flask.views import MethodView

from assay_server.roles import Role

PUBLIC = "public"
PAGE = "page"  # a page for people: without a session it redirects to the login form


def page(role: str) -> str:
    """A page (or a page's form) that needs more than ``viewer``; others get a 403 page."""
    return f"{PAGE}:{role}"


EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/health"): PUBLIC,
    ("GET", "/api/v1/ready"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/docs/start.js"): PUBLIC,
    ("GET", "/api/docs/<filename>"): PUBLIC,
    ("GET", "/static/<path:filename>"): PUBLIC,
    ("GET", "/static/vendor/plotly.min.js"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/"): PAGE,
    ("GET", "/models/<name>"): PAGE,
    ("GET", "/reports/<int:report_id>"): PAGE,
    ("GET", "/reports/<int:report_id>/evidently"): PAGE,
    ("GET", "/reports/<int:report_id>/evidently/page"): PAGE,
    ("GET", "/alerts"): PAGE,
    ("POST", "/alerts/<int:alert_id>/acknowledge"): page("contributor"),
    ("POST", "/alerts/<int:alert_id>/resolve"): page("contributor"),
    ("POST", "/alerts/<int:alert_id>/silence"): page("contributor"),
    ("POST", "/alerts/bulk"): page("contributor"),
    ("GET", "/deliveries"): PAGE,
    ("POST", "/deliveries/<int:delivery_id>/redeliver"): page("admin"),
    # version pages and the approvals inbox
    ("GET", "/models/<name>/versions/<int:version>"): PAGE,
    ("GET", "/models/<name>/versions/<int:version>/compliance-report"): PAGE,
    ("POST", "/models/<name>/versions/<int:version>/explain"): page("contributor"),
    ("POST", "/models/<name>/aliases"): page("contributor"),
    ("POST", "/models/<name>/aliases/<alias>/remove"): page("contributor"),
    ("POST", "/models/<name>/aliases/<alias>/promotion"): page("contributor"),
    ("GET", "/approvals"): PAGE,
    ("GET", "/models/<name>/comparison"): PAGE,
    ("POST", "/promotions/<int:promotion_id>/approve"): page("approver"),
    ("POST", "/promotions/<int:promotion_id>/reject"): page("approver"),
    # the rollout page
    ("GET", "/models/<name>/rollout"): PAGE,
    ("POST", "/rollouts/<int:rollout_id>/halt"): page("approver"),
    ("POST", "/rollouts/<int:rollout_id>/resume"): page("approver"),
    ("POST", "/rollouts/<int:rollout_id>/rollback"): page("approver"),
    # audit, policies and admin pages
    ("GET", "/audit"): PAGE,
    ("GET", "/audit/export"): PAGE,
    ("GET", "/policies"): PAGE,
    ("GET", "/policies/<policy_name>"): PAGE,
    ("GET", "/admin/tokens"): page("admin"),
    ("POST", "/admin/tokens"): page("admin"),
    ("POST", "/admin/tokens/<int:token_id>/revoke"): page("admin"),
    ("GET", "/admin/channels"): page("admin"),
    ("POST", "/admin/channels"): page("admin"),
    ("POST", "/admin/channels/<int:channel_id>/test"): page("admin"),
    ("POST", "/admin/channels/<int:channel_id>/rotate"): page("admin"),
    ("POST", "/admin/channels/<int:channel_id>/events"): page("admin"),
    ("POST", "/admin/channels/defaults"): page("admin"),
    ("GET", "/api/v1/whoami"): "viewer",
    ("GET", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens/<int:token_id>/revoke"): "admin",
    ("GET", "/api/v1/models"): "viewer",
    ("POST", "/api/v1/models"): "contributor",
    ("GET", "/api/v1/models/<string:name>"): "viewer",
    ("PATCH", "/api/v1/models/<string:name>"): "contributor",
    ("POST", "/api/v1/models/<string:name>/archive"): "admin",
    ("POST", "/api/v1/models/<string:name>/restore"): "admin",
    ("GET", "/api/v1/models/<string:name>/versions"): "viewer",
    ("POST", "/api/v1/models/<string:name>/versions"): "contributor",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>"): "viewer",
    ("PATCH", "/api/v1/models/<string:name>/versions/<int:version>"): "contributor",
    ("POST", "/api/v1/models/<string:name>/versions/<int:version>/stage"): "admin",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/artifact"): "viewer",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/reference"): "viewer",
    ("POST", "/api/v1/models/<string:name>/versions/<int:version>/predictions"): "contributor",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/predictions"): "viewer",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/predictions/export"): "viewer",
    ("POST", "/api/v1/models/<string:name>/labels"): "contributor",
    ("GET", "/api/v1/models/<string:name>/labels/pending"): "viewer",
    ("POST", "/api/v1/models/<string:name>/versions/<int:version>/explanations"): "contributor",
    ("GET", "/api/v1/explanations/<int:explanation_id>"): "viewer",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/global-explanation"): "viewer",
    (
        "POST",
        "/api/v1/models/<string:name>/versions/<int:version>/global-explanation",
    ): "contributor",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/trusted-types"): "viewer",
    ("POST", "/api/v1/models/<string:name>/versions/<int:version>/trusted-types"): "admin",
    ("POST", "/api/v1/models/<string:name>/versions/<int:version>/pickle-opt-in"): "admin",
    ("GET", "/api/v1/audit"): "viewer",
    ("GET", "/api/v1/audit/verify"): "viewer",
    ("GET", "/api/v1/audit/export"): "viewer",
    ("GET", "/api/v1/audit/checkpoints"): "viewer",
    ("POST", "/api/v1/audit/checkpoints"): "viewer",  # signs the head, as every export does
    ("GET", "/api/v1/audit/public-key"): PUBLIC,
    # governance
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/benchmarks"): "viewer",
    ("POST", "/api/v1/models/<string:name>/versions/<int:version>/benchmarks"): "contributor",
    (
        "GET",
        "/api/v1/models/<string:name>/versions/<int:version>/benchmarks/<int:benchmark_id>",
    ): "viewer",
    ("GET", "/api/v1/models/<string:name>/leaderboard"): "viewer",
    ("GET", "/api/v1/policies"): "viewer",
    ("POST", "/api/v1/policies"): "admin",
    ("GET", "/api/v1/policies/<string:policy_name>/versions"): "viewer",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/promotions"): "viewer",
    ("POST", "/api/v1/models/<string:name>/versions/<int:version>/promotions"): "contributor",
    ("GET", "/api/v1/promotions"): "viewer",
    ("GET", "/api/v1/promotions/<int:promotion_id>"): "viewer",
    ("GET", "/api/v1/promotions/<int:promotion_id>/evaluations"): "viewer",
    ("POST", "/api/v1/promotions/<int:promotion_id>/evaluate"): "contributor",
    ("POST", "/api/v1/promotions/<int:promotion_id>/approve"): "approver",
    ("POST", "/api/v1/promotions/<int:promotion_id>/reject"): "approver",
    ("POST", "/api/v1/promotions/<int:promotion_id>/cancel"): "contributor",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/gate"): "viewer",
    ("GET", "/api/v1/models/<string:name>/stage-history"): "viewer",
    # aliases
    ("GET", "/api/v1/models/<string:name>/aliases"): "viewer",
    ("PUT", "/api/v1/models/<string:name>/aliases/<string:alias>"): "contributor",
    ("DELETE", "/api/v1/models/<string:name>/aliases/<string:alias>"): "contributor",
    ("GET", "/api/v1/models/<string:name>/alias-history"): "viewer",
    ("GET", "/api/v1/models/<string:name>/versions/by-alias/<string:alias>"): "viewer",
    ("POST", "/api/v1/models/<string:name>/rollback"): "approver",
    # phased rollouts
    ("GET", "/api/v1/models/<string:name>/rollouts"): "viewer",
    ("POST", "/api/v1/models/<string:name>/rollouts"): "contributor",
    ("GET", "/api/v1/models/<string:name>/rollout"): "viewer",
    ("GET", "/api/v1/models/<string:name>/rollout/status"): "viewer",
    ("GET", "/api/v1/rollouts/<int:rollout_id>"): "viewer",
    ("POST", "/api/v1/rollouts/<int:rollout_id>/advance"): "contributor",
    ("POST", "/api/v1/rollouts/<int:rollout_id>/halt"): "approver",
    ("POST", "/api/v1/rollouts/<int:rollout_id>/resume"): "approver",
    ("POST", "/api/v1/rollouts/<int:rollout_id>/rollback"): "approver",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/compliance-report"): "viewer",
    # monitoring
    ("GET", "/api/v1/models/<string:name>/monitors"): "viewer",
    ("GET", "/api/v1/models/<string:name>/comparison"): "viewer",
    ("GET", "/api/v1/models/<string:name>/versions/<int:version>/traffic"): "viewer",
    ("POST", "/api/v1/models/<string:name>/monitors"): "contributor",
    ("GET", "/api/v1/models/<string:name>/monitors/<int:monitor_id>"): "viewer",
    ("PATCH", "/api/v1/models/<string:name>/monitors/<int:monitor_id>"): "contributor",
    ("DELETE", "/api/v1/models/<string:name>/monitors/<int:monitor_id>"): "contributor",
    ("POST", "/api/v1/models/<string:name>/monitors/<int:monitor_id>/run"): "contributor",
    ("GET", "/api/v1/models/<string:name>/monitors/<int:monitor_id>/runs"): "viewer",
    ("GET", "/api/v1/monitor-runs/<int:run_id>"): "viewer",
    ("GET", "/api/v1/models/<string:name>/reports"): "viewer",
    ("GET", "/api/v1/reports/<int:report_id>"): "viewer",
    ("GET", "/api/v1/reports/<int:report_id>/html"): "viewer",
    # alerts and notifications
    ("GET", "/api/v1/alerts"): "viewer",
    ("GET", "/api/v1/alerts/<int:alert_id>"): "viewer",
    ("POST", "/api/v1/alerts/bulk"): "contributor",
    ("POST", "/api/v1/alerts/<int:alert_id>/acknowledge"): "contributor",
    ("POST", "/api/v1/alerts/<int:alert_id>/resolve"): "contributor",
    ("POST", "/api/v1/alerts/<int:alert_id>/silence"): "contributor",
    ("GET", "/api/v1/channels"): "viewer",
    ("POST", "/api/v1/channels"): "admin",
    ("GET", "/api/v1/channels/<int:channel_id>"): "viewer",
    ("PATCH", "/api/v1/channels/<int:channel_id>"): "admin",
    ("DELETE", "/api/v1/channels/<int:channel_id>"): "admin",
    ("POST", "/api/v1/channels/<int:channel_id>/test"): "admin",
    ("GET", "/api/v1/models/<string:name>/default-channels"): "viewer",
    ("PUT", "/api/v1/models/<string:name>/default-channels"): "admin",
    ("GET", "/api/v1/deliveries"): "viewer",
    ("GET", "/api/v1/deliveries/<int:delivery_id>"): "viewer",
    ("POST", "/api/v1/deliveries/<int:delivery_id>/redeliver"): "admin",
    ("GET", "/metrics"): "viewer",
}

ROLES = [role.value for role in Role]


def _routes(app) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_has_a_row_in_the_matrix(app):
    routes = _routes(app)
    assert routes - EXPECTED.keys() == set(), "routes without an expected authorization rule"
    assert EXPECTED.keys() - routes == set(), "rows for routes that no longer exist"


def _url(rule: str, token_id: int) -> str:
    values = {
        "name": "matrix-model",
        "version": "1",
        "token_id": str(token_id),
        "filename": "missing.css",
        "explanation_id": "1",
        "benchmark_id": "1",
        "promotion_id": "1",
        "policy_name": "baseline",
        "monitor_id": "1",
        "run_id": "1",
        "report_id": "1",
        "alert_id": "1",
        "channel_id": "1",
        "delivery_id": "1",
        "alias": "champion",
        "rollout_id": "1",
    }
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], rule)


def _allowed(role: str | None, required: str) -> bool:
    if required == PUBLIC:
        return True
    if role is None:
        return False
    return Role(role).allows(Role(required))


@pytest.mark.parametrize("route", sorted(EXPECTED), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_role_gets_in_or_is_refused_as_the_matrix_says(route, client, token_for):
    method, rule = route
    required = EXPECTED[route]
    admin = {"Authorization": f"Bearer {token_for('admin', 'matrix-admin')}"}
    client.post(
        "/api/v1/models", json={"name": "matrix-model", "task": "regression"}, headers=admin
    )
    victim = client.post(
        "/api/v1/tokens", json={"name": "victim", "role": "viewer"}, headers=admin
    ).json["id"]
    url = _url(rule, victim)
    tokens = {role: token_for(role, f"matrix-{role}") for role in ROLES}

    for role in [None, *ROLES]:
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
        body = {} if method in {"POST", "PATCH", "PUT"} else None
        response = client.open(url, method=method, json=body, headers=headers)
        response.close()  # a streamed body's own unit of work ends inside the test's
        status = response.status_code
        who = role or "no token"
        if required.startswith(PAGE):
            needed = required.partition(":")[2] or "viewer"
            if role is None:
                assert status == 302 and "/login" in response.headers["Location"], who
            elif _allowed(role, needed):
                # in: a form redirects back (with a flash); a page about id 1 or policy
                # "baseline" (none in this store) is a 404
                missing = "<int:" in rule or "<policy_name>" in rule
                expected = 302 if method == "POST" else 404 if missing else 200
                assert status == expected, f"{who}: {status}"
                assert "/login" not in response.headers.get("Location", ""), who
            else:
                assert status == 403, f"{who}: {status}"
                assert f"needs the {needed} role" in response.get_data(as_text=True), who
        elif _allowed(role, required):
            assert status not in (401, 403), f"{who}: {status} {response.get_data(True)[:200]}"
        elif role is None:
            assert status == 401, who
            assert response.json["error"]["code"] == "unauthenticated"
        else:
            assert status == 403, f"{who}: {status}"
            assert response.json["error"]["code"] == "permission_denied"


def test_a_bad_token_is_refused_before_the_body_is_read(client):
    response = client.post(
        "/api/v1/models",
        data="{not json",
        headers={
            "Authorization": "Bearer asy_not-a-real-token",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 401
    assert response.json["error"]["message"] == "Invalid API token."


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "asy_x", "Bearer not-our-prefix"]
)
def test_malformed_authorization_headers_are_unauthenticated(client, header):
    response = client.get("/api/v1/models", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"


def test_a_route_without_a_rule_is_refused_even_to_an_admin(own_app, admin_headers):
    app = own_app

    class Forgotten(MethodView):
        def get(self):
            return {"secret": "data"}

    app.add_url_rule("/api/v1/forgotten", view_func=Forgotten.as_view("forgotten"))
    response = app.test_client().get("/api/v1/forgotten", headers=admin_headers)
    assert response.status_code == 403
    assert "no authorization rule" in response.json["error"]["message"]
