"""The retraining chain — alert → retrained version → comparison → rollout — on the version
page and in the compliance report (JSON and the printable page), and the other way on the
version the alert fired on."""

from __future__ import annotations

import re
from typing import Any

from tests.api.factories import API, declared_version
from tests.monitoring.conftest import Monitored


def _drift_alert(monitored: Monitored) -> dict[str, Any]:
    monitor = monitored.create_monitor(
        checks=["drift"], window={"hours": 1}, options={"suggest_retraining": True}
    )
    monitored.clock.advance(hours=1)
    monitored.log(400, seed=1, prefix="r1", shift=60.0)
    monitored.run(monitor["id"])
    [alert] = monitored.client.get(f"{API}/alerts", headers=monitored.headers).json
    return alert


def _retrained(monitored: Monitored) -> tuple[dict[str, Any], dict[str, Any]]:
    alert = _drift_alert(monitored)
    version = declared_version(
        monitored.client, monitored.headers, triggered_by={"alert": alert["id"]}
    )
    return alert, version


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:li|p|ol)>', html, re.S)
    assert match, f"nothing with id {element_id!r}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_the_version_page_shows_the_chain_from_the_alert_to_the_retrained_version(
    monitored: Monitored, signed_in: Any
) -> None:
    alert, version = _retrained(monitored)
    ann = signed_in("viewer", "ann")
    page = ann.get(f"/models/churn/versions/{version['version']}").get_data(as_text=True)
    assert 'id="retraining-chain"' in page
    said = _text(page, "chain-alert")
    assert f"Alert #{alert['id']}" in said and "on v1" in said
    assert "drifted:" in said and "age" in said
    assert f"v{version['version']}" in _text(page, "chain-version")
    assert "none yet" in _text(page, "chain-comparison")
    assert "none yet" in _text(page, "chain-rollout")

    origin = ann.get("/models/churn/versions/1").get_data(as_text=True)
    assert f"v{version['version']}" in _text(origin, "retrained-as")
    assert 'id="retraining-chain"' not in origin  # v1 answers no alert itself


def test_the_compliance_report_carries_the_chain(monitored: Monitored) -> None:
    alert, version = _retrained(monitored)
    url = f"{API}/models/churn/versions/{version['version']}/compliance-report"
    bundle = monitored.client.get(url, headers=monitored.headers, query_string={"format": "json"})
    assert bundle.status_code == 200, bundle.get_data(as_text=True)
    chain = bundle.json["retraining"]
    assert chain["alert_id"] == alert["id"]
    assert (chain["alert"]["check"], chain["alert"]["version"]) == ("drift", 1)
    assert chain["alert"]["window"]["start"] is not None
    assert "age" in chain["alert"]["features"]
    assert (chain["comparisons"], chain["rollouts"], chain["retrained_as"]) == ([], [], [])

    html = monitored.client.get(url, headers=monitored.headers).get_data(as_text=True)
    section = html.split('id="retraining"')[1].split("<h2")[0]
    assert f"alert {alert['id']}: drift on v1" in " ".join(section.split())

    origin = monitored.client.get(
        f"{API}/models/churn/versions/1/compliance-report",
        headers=monitored.headers,
        query_string={"format": "json"},
    ).json["retraining"]
    assert origin["alert_id"] is None
    assert [r["version"] for r in origin["retrained_as"]] == [version["version"]]
