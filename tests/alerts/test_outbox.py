"""The outbox: retries on the documented schedule with one event id, survives restarts, and
two delivery workers never send the same attempt twice."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from assay_server.alerts.models import Delivery, DeliveryAttempt
from assay_server.alerts.outbox import RETRY_DELAYS, Outbox, next_delay
from tests.api.factories import API
from tests.monitoring.conftest import Monitored

from .conftest import add_webhook_channel
from .receivers import WebhookReceiver


def _test_event(monitored: Monitored, channel_id: int) -> dict[str, Any]:
    response = monitored.client.post(f"{API}/channels/{channel_id}/test", headers=monitored.headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.json


def _delivery(monitored: Monitored, delivery_id: int) -> dict[str, Any]:
    response = monitored.client.get(f"{API}/deliveries/{delivery_id}", headers=monitored.headers)
    assert response.status_code == 200
    return response.json


def test_the_retry_schedule_has_seven_delays_with_ten_percent_jitter() -> None:
    assert [d.total_seconds() for d in RETRY_DELAYS] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    for attempt, base in enumerate(RETRY_DELAYS, start=1):
        for _ in range(20):
            delay = next_delay(attempt)
            assert delay is not None and 0.9 * base <= delay <= 1.1 * base
    assert next_delay(len(RETRY_DELAYS) + 1) is None


def test_a_receiver_failing_three_times_gets_four_attempts_with_the_same_event_id(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Outbox, clock: Any
) -> None:
    channel_id = add_webhook_channel(monitored, webhook)
    queued = _test_event(monitored, channel_id)
    webhook.fail_next(3, status=503)
    assert outbox.run_once() == 1
    for delay in RETRY_DELAYS[:3]:
        assert outbox.run_once() == 0  # not due yet
        clock.advance(seconds=delay.total_seconds() * 1.11)
        assert outbox.run_once() == 1
    delivery = _delivery(monitored, queued["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 4)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [503, 503, 503, 200]
    assert all(a["duration_ms"] >= 0 for a in delivery["attempt_log"])
    ids = {headers["webhook-id"] for headers, _body, _ok in webhook.received}
    assert ids == {queued["event_id"]} and len(webhook.received) == 4
    assert all(verified for _headers, _body, verified in webhook.received)
    assert {e["id"] for e in webhook.events} == {queued["event_id"]}


def test_a_delivery_that_never_succeeds_is_failed_after_eight_attempts_and_can_be_redelivered(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Outbox, clock: Any
) -> None:
    channel_id = add_webhook_channel(monitored, webhook)
    queued = _test_event(monitored, channel_id)
    webhook.fail_next(len(RETRY_DELAYS) + 1, status=500)
    for _ in range(len(RETRY_DELAYS) + 1):
        outbox.run_once()
        clock.advance(hours=11)
    failed = _delivery(monitored, queued["id"])
    assert (failed["status"], failed["attempts"]) == ("failed", 8)
    assert "500" in failed["last_error"]
    listed = monitored.client.get(
        f"{API}/deliveries", headers=monitored.headers, query_string={"status": "failed"}
    ).json
    assert [d["id"] for d in listed] == [queued["id"]]
    again = monitored.client.post(
        f"{API}/deliveries/{queued['id']}/redeliver", headers=monitored.headers
    )
    assert again.status_code == 202 and again.json["status"] == "pending"
    webhook.received.clear()
    webhook.events.clear()
    outbox.run_once()
    assert _delivery(monitored, queued["id"])["status"] == "delivered"
    assert [e["id"] for e in webhook.events] == [queued["event_id"]]


def test_pending_deliveries_survive_a_restart_and_stale_claims_are_taken_again(
    monitored: Monitored, webhook: WebhookReceiver, db: Any, settings: Any, clock: Any
) -> None:
    channel_id = add_webhook_channel(monitored, webhook)
    first = _test_event(monitored, channel_id)
    second = _test_event(monitored, channel_id)
    crashed = Outbox(db, settings, clock=clock, worker="crashed")
    assert crashed._claim() == [first["id"], second["id"]]  # then the process dies
    restarted = Outbox(db, settings, clock=clock, worker="restarted")
    assert restarted.run_once() == 0  # the claims hold for a minute
    clock.advance(seconds=61)
    assert restarted.run_once() == 2
    assert sorted(e["id"] for e in webhook.events) == sorted(
        [first["event_id"], second["event_id"]]
    )


@pytest.mark.commits  # concurrent threads share the store
def test_two_delivery_workers_never_send_the_same_attempt_twice(
    monitored: Monitored, webhook: WebhookReceiver, db: Any, settings: Any, clock: Any
) -> None:
    channel_id = add_webhook_channel(monitored, webhook)
    queued = [_test_event(monitored, channel_id) for _ in range(30)]
    workers = [Outbox(db, settings, clock=clock, worker=f"w{i}") for i in range(2)]
    made = [0, 0]

    def work(index: int) -> None:
        made[index] = workers[index].run_once()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(made) == 30
    assert sorted(e["id"] for e in webhook.events) == sorted(q["event_id"] for q in queued)
    with db.unit_of_work(write=False) as session:
        attempts = session.scalars(select(DeliveryAttempt.delivery_id)).all()
        statuses = set(session.scalars(select(Delivery.status)))
    assert len(attempts) == len(set(attempts)) == 30
    assert statuses == {"delivered"}


def test_the_outbox_row_is_written_with_the_alert_or_not_at_all(
    monitored: Monitored, webhook: WebhookReceiver, db: Any, monkeypatch: Any
) -> None:
    from assay_server.alerts import outbox

    add_webhook_channel(monitored, webhook)
    monitor = monitored.create_monitor(
        checks=["data_quality"], window={"hours": 1}, channels=["ops"]
    )
    monitored.log(300, missing_age=0.4)

    real_enqueue = outbox.enqueue
    calls: list[str] = []

    def enqueue_then_fail(*args: Any, **kwargs: Any) -> Any:
        rows = real_enqueue(*args, **kwargs)
        calls.append(args[2].check)
        if len(calls) == 1:  # the data-quality alert's transaction dies
            raise RuntimeError("the transaction dies after the outbox row was added")
        return rows

    monkeypatch.setattr(outbox, "enqueue", enqueue_then_fail)
    run = monitored.run(monitor["id"])
    assert run["status"] == "failed" and "failed on the server" in run["error"]
    assert calls == ["data_quality", "monitor_failed"]
    # the failed run raised its own alert, in the transaction that recorded the failure;
    # of the data-quality alert and its notification nothing was kept
    [alert] = monitored.client.get(f"{API}/alerts", headers=monitored.headers).json
    assert alert["check"] == "monitor_failed" and alert["report_id"] is None
    with db.unit_of_work(write=False) as session:
        assert [d.alert_id for d in session.scalars(select(Delivery))] == [alert["id"]]
    assert monitored.reports() == []
