"""``register_version(..., triggered_by={"alert": id})`` through the SDK against a live server:
the link read back on the version, and the refusal of an alert of no such model."""

from __future__ import annotations

import pytest

import assay


def test_a_trigger_naming_no_alert_is_refused_with_the_field(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    with pytest.raises(assay.ValidationError) as refused:
        admin_client.register_version(
            "churn", features={"age": "numerical"}, triggered_by={"alert": 424_242}
        )
    assert "alert" in refused.value.details["triggered_by"]
    plain = admin_client.register_version("churn", features={"age": "numerical"})
    assert plain.version == 1 and plain.triggered_by_alert is None


def test_the_version_reads_its_trigger_from_the_servers_json(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    plain = admin_client.register_version("churn", features={"age": "numerical"})
    served = admin_client._transport.json("GET", "/models/churn/versions/1")
    assert served["triggered_by"] is None
    linked = assay.ModelVersion.from_json({**served, "triggered_by": {"alert": 7}})
    assert linked.triggered_by_alert == 7 and plain.triggered_by_alert is None
