"""Retraining triggers: a monitor with ``suggest_retraining`` makes the incidents it raises carry
a ``retraining.suggested`` event to the channels subscribed to it (the alert, the window, the
drifted features); a version registered ``triggered_by`` the alert is linked to it, checked
to be an alert of the same model, and audited."""

from __future__ import annotations

from typing import Any

from tests.api.factories import API, audit_events, create_model, declared_version
from tests.monitoring.conftest import Monitored

from .conftest import add_webhook_channel
from .receivers import WebhookReceiver

QUALITY = {"data_quality": {"warning": 0.05, "alert": 0.2}}


def _drift_alert(
    monitored: Monitored, *, suggest: bool = True, channels: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A drifted hour on a drift monitor (``suggest_retraining`` as asked); its alert."""
    monitor = monitored.create_monitor(
        checks=["drift"],
        window={"hours": 1},
        channels=list(channels),
        options={"suggest_retraining": suggest},
    )
    monitored.clock.advance(hours=1)
    monitored.log(400, seed=1, prefix="r1", shift=60.0)
    run = monitored.run(monitor["id"])
    assert run["statuses"] == {"drift": "alert"}, run
    [alert] = monitored.client.get(f"{API}/alerts", headers=monitored.headers).json
    return alert


def _subscribe(monitored: Monitored, channel_id: int, events: list[str]) -> None:
    response = monitored.client.patch(
        f"{API}/channels/{channel_id}", json={"events": events}, headers=monitored.headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_drift_alert_suggests_retraining_to_subscribed_channels_with_its_window_and_features(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    channel = add_webhook_channel(monitored, webhook, name="ops")
    _subscribe(monitored, channel, ["retraining.suggested"])
    alert = _drift_alert(monitored, channels=("ops",))
    assert outbox.run_once() == 1  # the alert itself is not subscribed to here
    assert all(verified for _headers, _body, verified in webhook.received), webhook.rejections
    [event] = webhook.events
    assert event["type"] == "retraining.suggested"
    data = event["data"]
    assert (data["model"], data["version"]) == ("churn", 1)
    figures = data["figures"]
    assert figures["alert_id"] == alert["id"]
    [drift_report] = monitored.reports(kind="drift")
    assert figures["window"] == {
        "start": drift_report["window_start"],
        "end": drift_report["window_end"],
    }
    assert figures["window"]["start"] is not None
    assert set(figures["features"]) == set(drift_report["summary"]["drifted_columns"])
    assert {"age", "income"} <= set(figures["features"])
    assert f"suggested by alert {alert['id']}" in data["summary"]


def test_a_monitor_without_the_option_suggests_nothing(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    channel = add_webhook_channel(monitored, webhook, name="ops")
    _subscribe(monitored, channel, ["retraining.suggested", "alert.*"])
    _drift_alert(monitored, suggest=False, channels=("ops",))
    outbox.run_once()
    assert [e["type"] for e in webhook.events] == ["alert.firing"]


def test_a_version_registered_for_the_alert_links_to_it_audited(monitored: Monitored) -> None:
    alert = _drift_alert(monitored)
    version = declared_version(
        monitored.client, monitored.headers, triggered_by={"alert": alert["id"]}
    )
    assert version["triggered_by"] == {"alert": alert["id"]}
    again = monitored.client.get(
        f"{API}/models/churn/versions/{version['version']}", headers=monitored.headers
    )
    assert again.json["triggered_by"] == {"alert": alert["id"]}
    [registered] = [
        e
        for e in audit_events(
            monitored.client, monitored.headers, "model_version", f"churn/{version['version']}"
        )
        if e["action"] == "version.registered"
    ]
    assert registered["payload"]["triggered_by"] == {"alert": alert["id"]}
    plain = declared_version(monitored.client, monitored.headers)
    assert plain["triggered_by"] is None


def test_a_trigger_naming_no_alert_or_another_models_alert_is_refused_and_nothing_stored(
    monitored: Monitored,
) -> None:
    alert = _drift_alert(monitored)
    create_model(monitored.client, monitored.headers, "fraud")
    body = {
        "features": [{"name": "age", "kind": "numerical"}],
        "triggered_by": {"alert": alert["id"]},
    }
    for model, payload in (
        ("fraud", body),
        ("churn", {**body, "triggered_by": {"alert": alert["id"] + 1000}}),
    ):
        refused = monitored.client.post(
            f"{API}/models/{model}/versions", json=payload, headers=monitored.headers
        )
        assert refused.status_code == 422, refused.get_data(as_text=True)
        assert "alert" in refused.json["error"]["details"]["triggered_by"]
        listed = monitored.client.get(
            f"{API}/models/{model}/versions", headers=monitored.headers
        ).json
        assert len(listed["items"]) == (0 if model == "fraud" else 1)
    for bad in ({"alert": "one"}, {"alert": 0}, {"incident": 1}, {}):
        response = monitored.client.post(
            f"{API}/models/churn/versions",
            json={**body, "triggered_by": bad},
            headers=monitored.headers,
        )
        assert response.status_code == 422, (bad, response.get_data(as_text=True))
        assert "triggered_by" in response.json["error"]["details"]


def test_a_refused_trigger_with_files_stores_none_of_them(
    monitored: Monitored, settings: Any
) -> None:
    import pandas as pd
    import skops.io
    from sklearn.dummy import DummyClassifier

    from tests.api.factories import parquet_bytes, register_version

    alert = _drift_alert(monitored)
    stored_before = sorted(path for path in settings.data_dir.rglob("*") if path.is_file())
    frame = pd.DataFrame({"age": [30.0, 40.0, 50.0, 60.0], "churned": [0, 1, 0, 1]})
    model = DummyClassifier().fit(frame[["age"]], frame["churned"])
    refused = register_version(
        monitored.client,
        monitored.headers,
        "churn",
        metadata={"target": "churned", "triggered_by": {"alert": alert["id"] + 1000}},
        artifact=(skops.io.dumps(model), "model.skops"),
        reference=(parquet_bytes(frame), "reference.parquet"),
    )
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert "alert" in refused.json["error"]["details"]["triggered_by"]
    stored_after = sorted(path for path in settings.data_dir.rglob("*") if path.is_file())
    assert stored_after == stored_before  # neither the artifact nor the reference data
