"""A/B comparison through the API: each version's served rows only, the minimum sample per
arm computed up front from the champion's baseline rate, and the verdict withheld below it."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from tests.comparisons.conftest import Churn


def test_the_verdict_is_withheld_until_both_arms_reach_the_minimum(churn: Churn):
    churn.arm(1, 120, accuracy=0.80, seed=1)
    churn.arm(2, 120, accuracy=0.95, seed=2)
    early = churn.compare(champion="1", challenger="2", mode="ab", mde="0.1")
    sizing = early["sample_size"]
    assert sizing["basis"] == "power"
    assert sizing["baseline_source"] == "v1's served rows in the window"
    expected = NormalIndPower().solve_power(
        proportion_effectsize(sizing["baseline_rate"] + 0.1, sizing["baseline_rate"]),
        alpha=0.05,
        power=0.8,
    )
    assert early["minimum_n"] == math.ceil(expected)
    assert early["n"] == 120 < early["minimum_n"]
    assert early["verdict"] == "insufficient_data"
    assert early["minimum_reached"] is False
    # no peeking: nothing that would tell the difference is shown before the minimum
    for figure in ("champion_value", "challenger_value", "difference", "p_value", "ci_low"):
        assert early[figure] is None
    assert f"needs {early['minimum_n']} per arm" in early["reason"]

    churn.arm(1, 300, accuracy=0.80, seed=3)
    churn.arm(2, 300, accuracy=0.95, seed=4)
    later = churn.compare(champion="1", challenger="2", mode="ab", mde="0.1")
    assert later["n"] >= later["minimum_n"]
    assert later["minimum_reached"] is True
    assert later["test"] == "two_proportion_ztest"
    assert later["verdict"] == "challenger_better"
    assert later["ci_low"] > 0 and later["p_value"] < 0.05


def test_shadow_rows_are_not_an_arm(churn: Churn):
    churn.shadow(300, champion_accuracy=0.7, challenger_accuracy=0.9)
    report = churn.compare(champion="1", challenger="2", mode="ab", minimum=10)
    assert (report["n_champion"], report["n_challenger"]) == (300, 0)
    assert report["verdict"] == "insufficient_data"


def test_a_declared_minimum_and_a_bootstrap_metric(churn: Churn):
    churn.arm(1, 400, accuracy=0.7, seed=5)
    churn.arm(2, 400, accuracy=0.9, seed=6)
    report = churn.compare(champion="1", challenger="2", mode="ab", metric="f1", minimum=300)
    assert report["sample_size"]["basis"] == "declared"
    assert report["test"] == "two_sample_bootstrap"
    assert report["verdict"] == "challenger_better"


def test_the_traffic_endpoint_counts_served_and_shadow_rows(churn: Churn):
    churn.arm(2, 30, accuracy=0.9, seed=7)
    churn.shadow(20, champion_accuracy=0.8, challenger_accuracy=0.8)
    response = churn.client.get(churn.url("/versions/2/traffic"), headers=churn.headers)
    assert response.json == {"served": 30, "shadow": 20}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"champion": "1", "challenger": "1"}, "challenger"),
        ({"champion": "1", "challenger": "2", "mode": "canary"}, "mode"),
        ({"champion": "1", "challenger": "2", "metric": "rmse"}, "metric"),
        ({"champion": "1", "challenger": "2", "metric": "nope"}, "metric"),
        ({"champion": "1", "challenger": "Not An Alias"}, "challenger"),
        ({"champion": "1"}, "challenger"),
        ({"champion": "1", "challenger": "2", "minimum": "0"}, "minimum"),
        (
            {
                "champion": "1",
                "challenger": "2",
                "start": "2026-11-23T09:00:00+00:00",
                "end": "2026-11-22T09:00:00+00:00",
            },
            "start",
        ),
        ({"champion": "1", "challenger": "2", "start": "2026-11-23T09:00:00"}, "start"),
        ({"champion": "1", "challenger": "2", "extra": "x"}, "extra"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(churn: Churn, query, field):
    response = churn.client.get(churn.url("/comparison"), headers=churn.headers, query_string=query)
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert field in str(error["details"])


@pytest.mark.parametrize(
    "query",
    [
        {"champion": "1", "challenger": "9"},
        {"champion": "champion", "challenger": "2"},  # no such alias
    ],
)
def test_unknown_versions_and_aliases_are_404(churn: Churn, query):
    response = churn.client.get(churn.url("/comparison"), headers=churn.headers, query_string=query)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_an_unknown_model_is_404(churn: Churn):
    response = churn.client.get(
        "/api/v1/models/nobody/comparison",
        headers=churn.headers,
        query_string={"champion": "1", "challenger": "2"},
    )
    assert response.status_code == 404


@pytest.mark.parametrize(("shadow_of", "message"), [(1, None), (2, "this version"), (9, "not")])
def test_shadow_of_must_be_another_version_of_the_model(churn: Churn, shadow_of, message):
    import numpy as np

    expect = 200 if message is None else 422
    response = churn.log(
        2, ["x1"], np.array([1]), np.array([0.9]), shadow_of=shadow_of, expect=expect
    )
    if message is not None:
        assert message in response.json["error"]["message"]
        assert "shadow_of" in response.json["error"]["details"]
        traffic = churn.client.get(churn.url("/versions/2/traffic"), headers=churn.headers)
        assert traffic.json == {"served": 0, "shadow": 0}  # nothing stored


def test_shadow_of_a_version_of_another_model_is_refused(churn: Churn, client, contributor_headers):
    from tests.api.factories import create_model, declared_version

    create_model(client, contributor_headers, "other")
    declared_version(client, contributor_headers, "other")
    declared_version(client, contributor_headers, "other")
    declared_version(client, contributor_headers, "other")
    import numpy as np

    # churn has versions 1 and 2 only: version 3 exists on "other", not on churn
    response = churn.log(2, ["y1"], np.array([1]), np.array([0.9]), shadow_of=3, expect=422)
    assert "not one of its versions" in response.json["error"]["message"]
