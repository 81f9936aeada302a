"""A finished global explanation is the evidence of the ``explanation_available`` rule."""

from __future__ import annotations

import pytest

from assay_server.governance.evidence import EvidenceContext
from assay_server.registry.models import ModelVersion
from tests.api.factories import API
from tests.explain import estimators as est
from tests.explain.conftest import register

pytestmark = pytest.mark.commits  # explanation jobs run in background threads on the store


def test_explanation_available_once_a_global_explanation_is_done(
    app, client, contributor_headers, db, clock
):
    frame = est.signal_frame()
    register(
        client,
        contributor_headers,
        "evident",
        "binary_classification",
        est.signal_classifier(frame),
        frame,
        "label",
    )

    def observed():
        with db.unit_of_work(write=False) as session:
            version = session.query(ModelVersion).one()
            wired = app.extensions["assay_evidence"]
            return EvidenceContext(session, version, clock(), wired).observe(
                "explanation_available", {}
            )

    assert observed().value is False
    url = f"{API}/models/evident/versions/1/global-explanation"
    job = client.post(url, json={"sample_size": 5, "num_samples": 200}, headers=contributor_headers)
    assert observed().value is False  # queued is not evidence
    assert app.extensions["assay_explain_jobs"].drain(120)
    found = observed()
    assert found.value is True
    assert found.link == f"/api/v1/explanations/{job.json['id']}"


def test_the_app_gives_the_policy_rule_its_evidence(app, client, contributor_headers, db, clock):
    frame = est.signal_frame()
    register(
        client,
        contributor_headers,
        "wired",
        "binary_classification",
        est.signal_classifier(frame),
        frame,
        "label",
    )
    with db.unit_of_work(write=False) as session:
        version = session.query(ModelVersion).one()
        evidence = EvidenceContext(session, version, clock(), app.extensions["assay_evidence"])
        seen = evidence.observe("explanation_available", {})
    assert seen.value is False and seen.source == "explanations"
