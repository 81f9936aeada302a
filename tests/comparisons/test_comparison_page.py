"""The comparison page: the verdict, n, both versions' metric, the difference with its
interval and the minimum sample; bad input answered on the page with 4xx."""

from __future__ import annotations

from tests.comparisons.conftest import WINDOW, Churn


def test_the_page_shows_the_verdict_and_its_figures(churn: Churn, signed_in):
    churn.shadow(400, champion_accuracy=0.7, challenger_accuracy=0.9)
    viewer = signed_in("viewer")
    response = viewer.get(
        "/models/churn/comparison", query_string={"champion": "1", "challenger": "2", **WINDOW}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="verdict">challenger better<' in page
    assert "400 labelled paired rows" in page
    assert "reached" in page and "not reached" not in page
    report = churn.compare(champion="1", challenger="2")
    assert f"{report['difference']:+.4g}" in page
    assert f"[{report['ci_low']:+.4g}, {report['ci_high']:+.4g}]" in page
    assert "mcnemar chi2" in page


def test_an_ab_page_below_the_minimum_withholds_the_verdict(churn: Churn, signed_in):
    churn.arm(1, 50, accuracy=0.8, seed=1)
    churn.arm(2, 50, accuracy=0.9, seed=2)
    page = (
        signed_in("viewer")
        .get(
            "/models/churn/comparison",
            query_string={"champion": "1", "challenger": "2", "mode": "ab", **WINDOW},
        )
        .get_data(as_text=True)
    )
    assert 'id="verdict">insufficient data<' in page
    assert "not reached</strong>: the verdict is withheld" in page
    assert "computed before the test from a baseline rate" in page
    assert 'id="difference">—<' in page


def test_without_versions_the_page_is_the_form(churn: Churn, signed_in):
    response = signed_in("viewer").get("/models/churn/comparison")
    assert response.status_code == 200
    assert 'id="comparison-help"' in response.get_data(as_text=True)


def test_bad_input_is_answered_on_the_page(churn: Churn, signed_in):
    viewer = signed_in("viewer")
    bad = viewer.get(
        "/models/churn/comparison", query_string={"champion": "1", "challenger": "2", "mode": "x"}
    )
    assert bad.status_code == 422
    assert "mode" in bad.get_data(as_text=True)
    same = viewer.get("/models/churn/comparison", query_string={"champion": "1", "challenger": "1"})
    assert same.status_code == 422
    missing = viewer.get(
        "/models/churn/comparison", query_string={"champion": "1", "challenger": "7"}
    )
    assert missing.status_code == 404
    assert "no version 7" in missing.get_data(as_text=True)
