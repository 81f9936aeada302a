"""What guards the pages besides sign-in: the CSRF token every form must carry, and the security
headers of every response (and the sandboxed report page keeping its own)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Response
from sqlalchemy import select

from assay_server.access import public
from assay_server.app import create_app
from assay_server.auth.models import UiSession
from assay_server.monitoring.html import build_page
from assay_server.sandboxed import SANDBOX_POLICY
from tests.api.factories import API
from tests.monitoring.conftest import Monitored

from .forms import CSRF_INPUT, csrf_token
from .scenario import Scenario

FORM_REFUSED = "This form was refused"


def _policy(response: Any) -> dict[str, str]:
    """The response's Content-Security-Policy, directive by directive."""
    directives = (part.strip() for part in response.headers["Content-Security-Policy"].split(";"))
    return {name: value for name, _, value in (d.partition(" ") for d in directives if d)}


def _web_forms(app: Any) -> list[str]:
    """Every URL of the UI that takes a POST (ids of nothing: the refusal comes first)."""
    return sorted(
        re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("web.") and "POST" in rule.methods
    )


# CSRF ------------------------------------------------------------------------------------


def test_every_form_of_the_ui_is_refused_without_its_csrf_token(app, signed_in):
    browser = signed_in("admin", "root")
    forms = _web_forms(app)
    assert {"/login", "/logout", "/alerts/1/acknowledge", "/deliveries/1/redeliver"} <= set(forms)
    for url in forms:
        for data in ({}, {"csrf_token": "forged"}):
            response = browser.client.post(url, data={"comment": "x", **data})
            assert response.status_code == 400, url
            assert response.mimetype == "text/html"
            assert FORM_REFUSED in response.get_data(as_text=True), url
    assert browser.get("/").status_code == 200  # the refused sign-out signed nobody out


def test_an_acknowledgement_without_its_csrf_token_changes_nothing(
    scenario: Scenario, monitored: Monitored, signed_in
):
    alert_id = scenario.quality_alert["id"]
    browser = signed_in("contributor", "on-call")
    refused = browser.client.post(f"/alerts/{alert_id}/acknowledge", data={"comment": "forged"})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "<h2>Form refused <span" in page and "Nothing was changed." in page
    alert = monitored.client.get(f"{API}/alerts/{alert_id}", headers=monitored.headers).json
    assert alert["status"] == "firing" and alert["acknowledged_by"] is None
    events = monitored.client.get(
        f"{API}/audit", headers=monitored.headers, query_string={"action": "alert.acknowledged"}
    ).json["items"]
    assert events == []
    # the same form with the token its page carries goes through
    ok = browser.post(f"/alerts/{alert_id}/acknowledge", data={"comment": "mine"})
    assert ok.status_code == 302


def test_a_csrf_token_from_another_browser_is_refused(app, signed_in):
    mine = signed_in("contributor")
    theirs = signed_in("contributor")
    response = theirs.client.post(
        "/alerts/1/acknowledge", data={"csrf_token": mine.token(), "comment": "x"}
    )
    assert response.status_code == 400


def test_signing_in_needs_the_csrf_token_of_the_sign_in_form(client, token_for, db):
    response = client.post("/login", data={"token": token_for("admin")})
    assert response.status_code == 400
    assert FORM_REFUSED in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    with db.unit_of_work(write=False) as session:
        assert session.scalars(select(UiSession)).all() == []


def test_every_form_on_the_pages_carries_a_csrf_token(failed_deliveries: Scenario, signed_in):
    browser = signed_in("admin", "root")
    pages = {path: browser.get(path).get_data(as_text=True) for path in ("/alerts", "/deliveries")}
    pages["/login"] = browser.application.test_client().get("/login").get_data(as_text=True)
    for path, page in pages.items():
        forms = page.count('method="post"')  # a GET form (the filters) changes nothing
        assert forms and len(CSRF_INPUT.findall(page)) == forms, path
    assert pages["/alerts"].count("<form") > 2 and "Redeliver" in pages["/deliveries"]


def test_a_request_with_a_bearer_token_needs_no_csrf_token(client, signed_in, admin_headers):
    browser = signed_in("admin")  # a session cookie is there, but the bearer token is used
    response = browser.client.post("/alerts/9999/acknowledge", headers=admin_headers)
    assert response.status_code == 302
    created = browser.client.post(
        f"{API}/models", json={"name": "churn", "task": "regression"}, headers=admin_headers
    )
    assert created.status_code == 201


def test_the_token_of_any_page_of_a_session_is_good_for_any_of_its_forms(signed_in):
    browser = signed_in("viewer")
    first = csrf_token(browser.get("/").get_data(as_text=True))
    assert browser.post("/logout", data={"csrf_token": first}).status_code == 302


# security headers ------------------------------------------------------------------------


def _assert_page_headers(response: Any, where: str) -> None:
    policy = _policy(response)
    assert policy["default-src"] == "'self'", where
    assert policy["script-src"] == "'self'", where
    # no inline style but plotly.js's three, each allowed by the hash of its exact text
    style_sources = policy["style-src"].split()
    assert style_sources[:2] == ["'self'", "'unsafe-hashes'"], where
    assert all(s.startswith("'sha256-") for s in style_sources[2:]), where
    assert len(style_sources) == 5, where
    assert policy["img-src"] == "'self' data:", where
    assert policy["frame-ancestors"] == "'none'", where
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'", where
    assert policy["form-action"] == "'self'", where
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"], where
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"], where
    assert response.headers["X-Frame-Options"] == "DENY", where
    assert response.headers["X-Content-Type-Options"] == "nosniff", where
    assert response.headers["Referrer-Policy"] == "same-origin", where
    assert "Strict-Transport-Security" not in response.headers, where


def _external_or_data(tag: str) -> bool:
    """A ``<script>`` that loads a file of this site, or holds JSON (a chart's figure)."""
    return bool(re.fullmatch(r'<script src="/[^"]+">', tag)) or bool(
        re.fullmatch(r'<script type="application/json" id="[\w-]+">', tag)
    )


def test_every_page_carries_the_security_headers_and_no_inline_script_or_style(
    scenario: Scenario, signed_in, client
):
    report_id = scenario.reports["drift"]
    browser = signed_in("admin", "root")
    paths = [
        "/",
        "/alerts",
        "/deliveries",
        "/models/churn",
        f"/reports/{report_id}",
        f"/reports/{report_id}/evidently",
        "/models/nope",
    ]
    responses = {path: browser.get(path) for path in paths}
    responses["/login"] = client.get("/login")
    responses["a refused form"] = client.post("/logout")
    for where, response in responses.items():
        assert response.mimetype == "text/html", where
        _assert_page_headers(response, where)
        page = response.get_data(as_text=True)
        # scripts only from this site, and charts' figures as JSON data, never code
        scripts = re.findall(r"<script\b[^>]*>", page)
        assert all(_external_or_data(tag) for tag in scripts), (where, scripts)
        assert "<style" not in page and " style=" not in page, where
        assert " on" + "click=" not in page and "javascript:" not in page, where
    assert responses["/models/nope"].status_code == 404
    assert responses["a refused form"].status_code == 400


def test_redirects_and_the_api_carry_them_too(client, admin_headers):
    for response in (client.get("/"), client.get(f"{API}/models", headers=admin_headers)):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert _policy(response)["frame-ancestors"] == "'none'"


def test_evidentlys_page_keeps_its_sandbox_and_may_be_framed_by_the_ui_alone(
    scenario: Scenario, monitored: Monitored, signed_in, db, settings
):
    report_id = scenario.reports["drift"]
    build_page(db, settings, report_id)  # as the scheduler does after a run
    browser = signed_in("viewer")
    wrapper = browser.get(f"/reports/{report_id}/evidently")
    assert "frame-src" not in _policy(wrapper) and "child-src" not in _policy(wrapper)
    document = browser.get(f"/reports/{report_id}/evidently/page")
    assert document.status_code == 200
    assert document.headers["Content-Security-Policy"] == SANDBOX_POLICY
    assert _policy(document)["frame-ancestors"] == "'self'"
    assert document.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert document.headers["Referrer-Policy"] == "no-referrer"
    assert document.headers["X-Content-Type-Options"] == "nosniff"
    api = monitored.client.get(f"{API}/reports/{report_id}/html", headers=monitored.headers)
    assert api.headers["Content-Security-Policy"] == SANDBOX_POLICY


def test_what_the_framed_page_answers_without_a_policy_of_its_own_is_still_frameable(signed_in):
    response = signed_in("viewer").get("/reports/999/evidently/page")  # shown in the frame
    assert response.status_code == 404 and response.mimetype == "text/html"
    policy = _policy(response)
    assert policy["frame-ancestors"] == "'self'"
    assert policy["default-src"] == policy["script-src"] == "'self'"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_a_response_that_sets_its_own_policy_keeps_it(own_app):
    @public
    def own() -> Response:
        response = Response("<p>mine</p>", mimetype="text/html")
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    own_app.add_url_rule("/own", view_func=own)
    response = own_app.test_client().get("/own")
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/login", f"{API}/health"])
def test_behind_https_every_response_carries_hsts_and_nothing_redirects(settings, db, clock, path):
    app = create_app(
        settings.with_overrides(public_url="https://assay.example"), database=db, clock=clock
    )
    response = app.test_client().get(path)  # plain http: TLS ended at the proxy
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_without_https_no_hsts_even_when_a_header_claims_it(client):
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


def test_the_stylesheet_is_served_from_this_site(client):
    response = client.get("/static/assay.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert "tr.flagged" in response.get_data(as_text=True)
    assert 'href="/static/assay.css"' in client.get("/login").get_data(as_text=True)
