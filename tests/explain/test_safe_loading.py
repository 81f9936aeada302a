"""What a worker may load is an explicit decision, and loading happens only in a worker."""

from __future__ import annotations

import io
import pickle
import zipfile

import pytest
import skops.io
from sklearn.ensemble import RandomForestClassifier

from tests.api.factories import API, audit_actions
from tests.explain import estimators as est
from tests.explain.conftest import explain, pickle_bytes, register

pytestmark = pytest.mark.commits  # explanation jobs run in background threads on the store

TREE = "sklearn.tree._tree.Tree"


def _rows(frame, count=1):
    return [{n: float(frame.iloc[i][n]) for n in est.NUMERIC} for i in range(count)]


def _trust(client, headers, name, types):
    return client.post(
        f"{API}/models/{name}/versions/1/trusted-types", json={"types": types}, headers=headers
    )


def _opt_in(client, headers, name, allow=True):
    return client.post(
        f"{API}/models/{name}/versions/1/pickle-opt-in", json={"allow": allow}, headers=headers
    )


def test_an_untrusted_skops_type_is_refused_by_name_until_an_admin_trusts_it(
    client, contributor_headers, admin_headers
):
    frame = est.signal_frame()
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(
        frame[est.NUMERIC], frame["label"]
    )
    register(client, contributor_headers, "forest", "binary_classification", forest, frame, "label")
    refused = explain(client, contributor_headers, "forest", _rows(frame), num_samples=300)
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["details"]["untrusted_types"] == [TREE]
    assert TREE in error["message"]

    trusted = _trust(client, admin_headers, "forest", [TREE])
    assert trusted.status_code == 200 and trusted.json["trusted_types"] == [TREE]
    assert "version.types_trusted" in audit_actions(
        client, admin_headers, "model_version", "forest/1"
    )
    shown = client.get(f"{API}/models/forest/versions/1/trusted-types", headers=contributor_headers)
    assert shown.json["trusted_types"] == [TREE] and shown.json["format"] == "skops"
    answered = explain(client, contributor_headers, "forest", _rows(frame), num_samples=300)
    assert answered.status_code == 200, answered.get_data(as_text=True)


def test_a_pickle_is_refused_by_default_and_with_only_one_of_the_two_opt_ins(
    make_app, contributor_headers, admin_headers
):
    frame = est.signal_frame()
    artifact = (pickle_bytes(est.signal_classifier(frame)), "model.joblib")
    closed = make_app().test_client()
    register(
        closed,
        contributor_headers,
        "pickled",
        "binary_classification",
        None,
        frame,
        "label",
        artifact=artifact,
    )

    assert explain(closed, contributor_headers, "pickled", _rows(frame)).status_code == 422
    open_server = make_app(allow_pickle=True).test_client()
    only_server = explain(open_server, contributor_headers, "pickled", _rows(frame))
    assert only_server.status_code == 422
    assert only_server.json["error"]["details"]["version_opted_in"] is False

    assert _opt_in(closed, admin_headers, "pickled").status_code == 200
    only_version = explain(closed, contributor_headers, "pickled", _rows(frame))
    assert only_version.status_code == 422
    assert only_version.json["error"]["details"]["server_allows_pickle"] is False

    both = explain(open_server, contributor_headers, "pickled", _rows(frame), num_samples=300)
    assert both.status_code == 200, both.get_data(as_text=True)
    assert "version.pickle_opt_in" in audit_actions(
        closed, admin_headers, "model_version", "pickled/1"
    )


def test_a_hostile_pickle_never_runs_in_a_refused_path_and_never_in_the_web_process(
    make_app, contributor_headers, admin_headers, tmp_path
):
    canary = tmp_path / "canary"
    frame = est.signal_frame()
    hostile = (pickle.dumps(est.CanaryPayload(str(canary)), protocol=4), "model.pkl")
    closed = make_app().test_client()
    open_server = make_app(allow_pickle=True).test_client()
    register(
        closed,
        contributor_headers,
        "hostile",
        "binary_classification",
        None,
        frame,
        "label",
        artifact=hostile,
    )
    assert not canary.exists()  # registering stores bytes, never loads them

    assert explain(closed, contributor_headers, "hostile", _rows(frame)).status_code == 422
    assert explain(open_server, contributor_headers, "hostile", _rows(frame)).status_code == 422
    _opt_in(closed, admin_headers, "hostile")
    assert explain(closed, contributor_headers, "hostile", _rows(frame)).status_code == 422
    assert not canary.exists()

    # With both opt-ins the payload runs, as pickles do, but in a jailed worker: the file it
    # writes outside its own directory is refused (test_jail.py tries the rest).
    loaded = explain(open_server, contributor_headers, "hostile", _rows(frame))
    assert loaded.status_code == 502
    assert loaded.json["error"]["details"]["exception"] == "PermissionError"
    assert not canary.exists()


def test_the_web_process_never_deserialises_a_model(client, contributor_headers, monkeypatch):
    import joblib

    def forbidden(*_args, **_kwargs):
        raise AssertionError("the web process deserialised a model")

    frame = est.signal_frame(seed=11)
    register(
        client,
        contributor_headers,
        "guarded",
        "binary_classification",
        est.signal_classifier(frame),
        frame,
        "label",
    )
    for module, name in [
        (skops.io, "load"),
        (skops.io, "loads"),
        (pickle, "loads"),
        (pickle, "load"),
        (joblib, "load"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    response = explain(client, contributor_headers, "guarded", _rows(frame), num_samples=300)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_an_artifact_changed_after_registration_is_not_loaded(
    client, contributor_headers, settings
):
    frame = est.signal_frame(seed=12)
    version = register(
        client,
        contributor_headers,
        "tampered",
        "binary_classification",
        est.signal_classifier(frame),
        frame,
        "label",
    )
    sha = version["artifact"]["sha256"]
    path = settings.data_dir / "artifacts" / sha[:2] / sha
    path.write_bytes(skops.io.dumps(est.signal_classifier(est.signal_frame(seed=13))))
    response = explain(client, contributor_headers, "tampered", _rows(frame))
    assert response.status_code == 422
    assert response.json["error"]["details"]["kind"] == "integrity"
    assert sha in response.json["error"]["message"]


def _slow_or_crashing(client, contributor_headers, admin_headers, name, cls):
    frame = est.signal_frame()
    model = cls().fit(frame[est.NUMERIC], frame["label"])
    register(client, contributor_headers, name, "binary_classification", model, frame, "label")
    _trust(client, admin_headers, name, [f"{cls.__module__}.{cls.__name__}"])
    return frame


def test_a_model_slower_than_the_timeout_gets_a_504_and_the_api_stays_responsive(
    make_app, contributor_headers, admin_headers, explain_pool
):
    client = make_app(explain_timeout_seconds=2.0).test_client()
    frame = _slow_or_crashing(
        client, contributor_headers, admin_headers, "slow", est.SlowClassifier
    )
    before = set(explain_pool.pids())
    response = explain(client, contributor_headers, "slow", _rows(frame))
    assert response.status_code == 504
    assert response.json["error"]["code"] == "explanation_timeout"
    assert "replaced" in response.json["error"]["message"]
    assert len(set(explain_pool.pids()) - before) == 1  # one worker was killed and replaced

    assert client.get(f"{API}/health").status_code == 200
    client = make_app().test_client()  # the same pool, a timeout that a loaded machine meets
    register(
        client,
        contributor_headers,
        "fine",
        "binary_classification",
        est.signal_classifier(frame),
        frame,
        "label",
    )
    fine = explain(client, contributor_headers, "fine", _rows(frame), num_samples=300)
    assert fine.status_code == 200


def test_a_worker_that_dies_is_replaced_and_the_request_gets_a_clear_error(
    client, contributor_headers, admin_headers, explain_pool
):
    frame = _slow_or_crashing(
        client, contributor_headers, admin_headers, "crash", est.CrashingClassifier
    )
    before = set(explain_pool.pids())
    response = explain(client, contributor_headers, "crash", _rows(frame))
    assert response.status_code == 502
    assert "exit code 3" in response.json["error"]["message"]
    assert len(set(explain_pool.pids()) - before) == 1


@pytest.mark.parametrize("task", ["binary_classification"])
def test_an_onnx_model_is_explained_through_onnxruntime(client, contributor_headers, task):
    from skl2onnx import to_onnx

    frame = est.signal_frame()
    model = est.signal_classifier(frame)
    onnx = to_onnx(
        model, frame[est.NUMERIC].to_numpy(dtype="float32")[:1], options={"zipmap": False}
    )
    register(
        client,
        contributor_headers,
        "onnx",
        task,
        None,
        frame,
        "label",
        artifact=(onnx.SerializeToString(), "model.onnx"),
    )
    response = explain(client, contributor_headers, "onnx", _rows(frame), num_samples=500)
    assert response.status_code == 200, response.get_data(as_text=True)
    item = response.json["result"]["explanations"][0]
    assert sorted(w["feature"] for w in item["weights"][:2]) == est.SIGNAL_FEATURES
    assert item["prediction"]["label"] in (0, 1)


def _with_padding(artifact: bytes, size: int) -> bytes:
    """``artifact`` (a skops zip) with one more entry of ``size`` zero bytes, deflated."""
    buffer = io.BytesIO(artifact)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("padding.bin", bytes(size))
    return buffer.getvalue()


def test_a_zip_bomb_model_is_refused_from_its_directory_without_being_unpacked(
    client, contributor_headers
):
    frame = est.signal_frame(seed=14)
    bomb = _with_padding(skops.io.dumps(est.signal_classifier(frame)), 64 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024  # 64 MiB of zeros deflate about 1,000 times
    register(
        client,
        contributor_headers,
        "bomb",
        "binary_classification",
        None,
        frame,
        "label",
        artifact=(bomb, "model.skops"),
    )
    response = explain(client, contributor_headers, "bomb", _rows(frame))
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["details"]["kind"] == "archive_too_large"
    assert error["details"]["stored_bytes"] < error["details"]["unpacked_bytes"] // 100
    assert "zip bomb" in error["message"]


def test_an_archive_larger_than_the_server_unpacks_is_refused(make_app, contributor_headers):
    application = make_app(explain_max_unpacked_mb=1.0)
    client = application.test_client()
    frame = est.signal_frame(seed=15)
    plain = zipfile.ZipFile(io.BytesIO(skops.io.dumps(est.signal_classifier(frame))))
    assert sum(entry.file_size for entry in plain.infolist()) < 1024 * 1024
    padded = skops.io.dumps(est.signal_classifier(frame))
    buffer = io.BytesIO(padded)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("padding.bin", bytes(2 * 1024 * 1024))
    register(
        client,
        contributor_headers,
        "large",
        "binary_classification",
        None,
        frame,
        "label",
        artifact=(buffer.getvalue(), "model.skops"),
    )
    response = explain(client, contributor_headers, "large", _rows(frame))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["error"]["details"]["kind"] == "archive_too_large"
    assert response.json["error"]["details"]["max_unpacked_bytes"] == 1024 * 1024
