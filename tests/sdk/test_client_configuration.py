"""Building a client: URL and token from arguments or the environment, failing fast."""

from __future__ import annotations

import pytest

import assay


def test_client_without_url_raises_configuration_error_naming_assay_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ASSAY_URL", raising=False)
    monkeypatch.setenv("ASSAY_TOKEN", "asy_x")
    with pytest.raises(assay.ConfigurationError, match="ASSAY_URL") as raised:
        assay.Client()
    assert isinstance(raised.value, ValueError)


def test_client_without_token_raises_configuration_error_naming_assay_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ASSAY_TOKEN", raising=False)
    with pytest.raises(assay.ConfigurationError, match="ASSAY_TOKEN"):
        assay.Client("http://127.0.0.1:8080")


def test_client_rejects_a_url_without_scheme() -> None:
    with pytest.raises(assay.ConfigurationError, match="http://"):
        assay.Client("localhost:8080", "asy_x")


@pytest.mark.parametrize(
    "url",
    [
        "http://assay.example:8080",
        "http://assay.example:8080/",
        "http://assay.example:8080/api/v1/",
    ],
)
def test_client_calls_the_api_root_whether_or_not_the_url_names_it(url: str) -> None:
    with assay.Client(url, "asy_x") as client:
        assert client.base_url == "http://assay.example:8080/api/v1"


def test_client_reads_url_and_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, live_server: object, admin_token: str
) -> None:
    monkeypatch.setenv("ASSAY_URL", live_server.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("ASSAY_TOKEN", admin_token)
    with assay.Client() as client:
        assert client.whoami().role == "admin"


def test_negative_max_retries_is_a_configuration_error() -> None:
    with pytest.raises(assay.ConfigurationError, match="max_retries"):
        assay.Client("http://127.0.0.1:1", "asy_x", max_retries=-1)
