"""Evidently glue: the HTML report a person opens and Evidently's own per-column results."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from assay_server.checks.drift import is_drifted
from assay_server.monitoring.evidently_report import (
    UnsafeReport,
    evidently_drift_columns,
    evidently_drift_summary,
    evidently_frames,
    evidently_html,
    script_safe_data,
)

from .drift_data import KINDS, as_window, mixed_frame, with_missing


def test_frames_hand_evidently_the_values_the_checks_see():
    reference = pd.DataFrame({"n": [1, 2, np.inf], "c": [1, 2.0, None], "e": [None, None, None]})
    current = pd.DataFrame(
        {"n": [3.0, None], "c": pd.Series(["1", "x"], dtype="category"), "e": ["a", "b"]}
    )
    kinds = {"n": "numerical", "c": "categorical", "e": "categorical"}
    reference_frame, current_frame, testable = evidently_frames(reference, current, kinds)
    assert reference_frame["n"].dtype == np.float64
    assert reference_frame["n"].isna().tolist() == [False, False, True]
    assert reference_frame["c"].tolist() == ["1", "2", None]
    assert current_frame["c"].tolist() == ["1", "x"]
    assert testable == {"n": "numerical", "c": "categorical"}  # "e" is empty in the reference


def test_evidently_columns_use_our_method_names_and_evidentlys_decisions():
    reference = mixed_frame(1500, seed=1)
    current = mixed_frame(500, seed=2, shift=0.4)
    columns = evidently_drift_columns(reference, current, KINDS, methods={"income": "psi"})
    assert set(columns) == set(KINDS)
    assert columns["income"]["method"] == "psi"
    assert columns["colour"]["method"] == "jensenshannon"
    for result in columns.values():
        assert result["drifted"] == is_drifted(
            result["method"], result["score"], result["threshold"]
        )
    assert any(result["drifted"] for result in columns.values())


def test_evidently_summary_counts_drifted_columns():
    summary = evidently_drift_summary(
        mixed_frame(600, seed=3), mixed_frame(600, seed=4, shift=0.5), KINDS, drift_share=0.2
    )
    drifted = sum(result["drifted"] for result in summary["columns"].values())
    assert summary["n_drifted"] == drifted
    assert summary["share_drifted"] == pytest.approx(drifted / len(KINDS))
    assert summary["dataset_drift"] is (drifted / len(KINDS) >= 0.2)


def test_html_report_is_a_standalone_document_with_our_title_and_columns():
    reference = with_missing(mixed_frame(400, seed=5), seed=6)
    current = as_window(mixed_frame(300, seed=7, shift=0.3))
    current["country"] = None  # nothing to test on one side: left out, not an error
    document = evidently_html(
        reference,
        current,
        KINDS,
        methods={"income": "wasserstein"},
        thresholds={"income": 0.2},
        title="Drift <window 42>",
    )
    text = document.decode("utf-8")
    assert text.lstrip().startswith("<!DOCTYPE html>")
    assert "<title>Drift &lt;window 42&gt;</title>" in text
    assert '"income"' in text or "income" in text
    assert "Wasserstein" in text
    assert len(document) > 100_000  # Evidently inlines its JS bundle


def test_html_report_refuses_data_with_nothing_to_test():
    frame = pd.DataFrame({"x": [None, None]})
    with pytest.raises(ValueError, match="no column"):
        evidently_html(frame, frame, {"x": "numerical"})


BREAKOUT = "</script><script>alert(4)</script>"


def test_logged_values_cannot_close_the_script_that_holds_evidentlys_data():
    reference = pd.DataFrame({"plan": ["a", "b", BREAKOUT] * 50, BREAKOUT: np.arange(150.0)})
    current = pd.DataFrame({"plan": [BREAKOUT, "a"] * 60, BREAKOUT: np.arange(120.0) + 9})
    kinds = {"plan": "categorical", BREAKOUT: "numerical"}
    text = evidently_html(reference, current, kinds, title=BREAKOUT).decode("utf-8")

    assert "<script>alert(4)" not in text
    # four scripts of Evidently's own (data, a global, its bundle, the call that draws)
    assert text.count("</script>") == 4
    data = re.findall(r"^ *var (?:additional_graphs_)?metric_[0-9a-f]{32} = (.*);$", text, re.M)
    assert len(data) == 2
    decoded = json.dumps([json.loads(each) for each in data])
    assert json.dumps(BREAKOUT)[1:-1] in decoded  # the report still shows the value itself


def test_a_page_not_laid_out_as_expected_is_refused_not_served():
    with pytest.raises(UnsafeReport, match="found 0"):
        script_safe_data("<html><script>var x = 1;</script></html>")
