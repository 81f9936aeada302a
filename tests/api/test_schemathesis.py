"""The served OpenAPI document is a contract the server keeps, checked by schemathesis.

From the document alone, schemathesis makes requests to every operation — examples, boundary
values, random valid and invalid input — and checks each answer with all of its checks: no
5xx, every status and body and header as documented, invalid input refused, valid input not
refused, a 405 with ``Allow`` for an undeclared method, no way in without the token. The
stateful test chains calls by the links schemathesis infers from the document (a model made
by ``POST /models`` is then read, changed and used by name), which reaches what a random
name never finds.

The document is read once, at collection (schemathesis makes one test per operation from it,
before any fixture exists), from an app of its own; the requests go to each test's app (the
session's app on the test's rolled-back store, ``tests/conftest.py``) through
:class:`UnderTest`, as an admin.

Bounded for the suite's time: a few examples per operation and phase, a few short scenarios.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks

from assay_server.app import create_app
from assay_server.settings import Settings

EXAMPLES_PER_OPERATION = 6
SCENARIOS = 25
STEPS_PER_SCENARIO = 6

#: Valid input by the document that the server still refuses (422) by a rule OpenAPI 3.0
#: cannot state: one field's value depends on another's, on stored state or on the time,
#: or a rule is about an object's keys. Everything else valid must not be refused.
RULES_BEYOND_OPENAPI: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/models"): (
        "classes fit the task (exactly two for a binary classifier, none for a regressor) and "
        "no two stand for one value (1, '1' and 1.0 are alike)"
    ),
    ("POST", "/api/v1/models/{name}/versions"): (
        "target and prediction are not features; model-card keys are snake_case names; "
        "triggered_by names an alert of the model"
    ),
    ("POST", "/api/v1/models/{name}/versions/{version}/promotions"): (
        "a promotion names a stage or an alias, not both; only a promotion to production asks "
        "for a rollout"
    ),
    ("PATCH", "/api/v1/models/{name}/versions/{version}"): "model-card keys are snake_case",
    ("POST", "/api/v1/models/{name}/versions/{version}/stage"): (
        "to staging or production, an override of the gate needs a reason"
    ),
    ("POST", "/api/v1/models/{name}/versions/{version}/benchmarks"): (
        "metric names are 1 to 100 characters"
    ),
    ("GET", "/api/v1/promotions"): "a version filter needs a model filter",
    ("GET", "/api/v1/models/{name}/versions/{version}/gate"): "a stage or an alias, not both",
    ("POST", "/api/v1/models/{name}/rollouts"): (
        "the steps' shares rise strictly, from a first step below 100 to exactly 100"
    ),
    ("GET", "/api/v1/models/{name}/leaderboard"): "sort names a metric the versions have",
    ("POST", "/api/v1/policies"): "each file's content is a YAML policy",
    ("POST", "/api/v1/models/{name}/monitors"): (
        "a window and a schedule each give exactly one of their two fields"
    ),
    ("PATCH", "/api/v1/models/{name}/monitors/{monitor_id}"): (
        "a window and a schedule each give exactly one of their two fields"
    ),
    ("POST", "/api/v1/alerts/{alert_id}/silence"): "until is in the future",
    ("POST", "/api/v1/channels"): "a webhook needs a url, an e-mail channel recipients",
    ("PATCH", "/api/v1/channels/{channel_id}"): "the url suits the channel's kind",
    ("GET", "/api/v1/models/{name}/comparison"): (
        "two different versions; the window's start before its end; a metric of the task"
    ),
    ("POST", "/api/v1/models/{name}/versions/{version}/predictions"): (
        "shadow_of names another version of the same model"
    ),
}


def served_document() -> dict[str, Any]:
    """``GET /api/openapi.json`` of an app built for reading it (no store is touched)."""
    data_dir = Path(tempfile.mkdtemp(prefix="assay-openapi-"))
    app = create_app(
        Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir}/unused.db", secret_key="-")
    )
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "max-examples": EXAMPLES_PER_OPERATION,
            "database": "none",  # the same examples on every run and machine
            # NUL is refused everywhere (a 422: ``storable.py``), which a string schema does
            # not say; test_unstorable_values.py covers it
            "allow-x00": False,
        },
        "checks": {"enabled": True},
    }
)


class UnderTest:
    """The WSGI app schemathesis calls: the running test's app, with its admin token."""

    app: Any = None
    token: str | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.app(environ, start_response)


load_all_checks()
UNDER_TEST = UnderTest()
schema = schemathesis.openapi.from_dict(served_document(), config=CONFIG)
schema.app = UNDER_TEST


@schema.auth(refresh_interval=None)
class AdminToken:
    """The bearer token of the running test's admin."""

    def get(self, case: Any, context: Any) -> str | None:
        return UNDER_TEST.token

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(autouse=True)
def _under_test(app: Any, token_for: Any) -> None:
    UNDER_TEST.app = app
    UNDER_TEST.token = token_for("admin", "schemathesis")


# each operation's examples share the test's store, as a client's requests would
BOUNDED = settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)


#: What valid input may be answered with where a rule beyond OpenAPI applies (401 and 403:
#: schemathesis also sends valid input without the token).
ACCEPTED_OR_REFUSED_BY_A_RULE = frozenset({*range(200, 300), 401, 403, 404, 409, 422})


def valid_input_is_accepted_or_refused_by_its_rule(ctx: Any, response: Any, case: Any) -> None:
    """``positive_data_acceptance`` where :data:`RULES_BEYOND_OPENAPI` names the operation:
    a 422 is the rule speaking; any other refusal of valid input is still a failure."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive:
        rule = RULES_BEYOND_OPENAPI[(case.method.upper(), case.path)]
        assert response.status_code in ACCEPTED_OR_REFUSED_BY_A_RULE, (
            f"Valid input refused with {response.status_code} (its one rule beyond OpenAPI, "
            f"answered with 422: {rule})"
        )


def checks_for(case: Any) -> dict[str, Any]:
    """The checks of ``case``'s answer: all, with the exception above where it applies."""
    if (case.method.upper(), case.path) not in RULES_BEYOND_OPENAPI:
        return {}
    [positive_data_acceptance] = CHECKS.get_by_names(["positive_data_acceptance"])
    return {
        "excluded_checks": [positive_data_acceptance],
        "additional_checks": [valid_input_is_accepted_or_refused_by_its_rule],
    }


@schema.parametrize()
@BOUNDED
def test_every_operation_keeps_the_contract(case: Any) -> None:
    case.call_and_validate(**checks_for(case))


class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
    """Chains of calls along the inferred links, each answer checked as above. Each scenario
    starts from the same store (a savepoint of the test's transaction, rolled back after
    it): Hypothesis replays scenarios, and one must not see what another made."""

    connection: Any = None

    def setup(self) -> None:
        self.scenario = self.connection.begin_nested()

    def teardown(self) -> None:
        self.scenario.rollback()

    def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
        checks = checks_for(case)
        case.validate_response(
            response,
            excluded_checks=checks.get("excluded_checks"),
            additional_checks=checks.get("additional_checks"),
            transport_kwargs=kwargs or None,
        )


def test_chained_calls_keep_the_contract(db: Any) -> None:
    Scenarios.connection = db.write_sessions.kw["bind"]  # the test's connection (conftest)
    Scenarios.run(
        settings=settings(BOUNDED, max_examples=SCENARIOS, stateful_step_count=STEPS_PER_SCENARIO)
    )


def test_every_exception_names_an_operation_of_the_document() -> None:
    operations = {
        (method.upper(), path)
        for path, item in schema.raw_schema["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert set(RULES_BEYOND_OPENAPI) <= operations
