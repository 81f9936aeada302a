"""The client's HTTP layer: one ``requests.Session``, the retry policy mounted on it, errors
mapped once.

:class:`Connection` is where the server is and how to authenticate — what a
:class:`assay.Client` and a :class:`assay.PredictionLogger` share. :class:`Transport` sends the
client's calls: every POST carries an ``Idempotency-Key`` (the same one on each retry of that
call), and :mod:`assay._retries` decides what is retried and how long to wait.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from assay._encoding import encode_json
from assay._retries import IDEMPOTENCY_HEADER, RetryPolicy, may_replay
from assay.errors import (
    APIConnectionError,
    APITimeoutError,
    AssayError,
    ConfigurationError,
    ServerError,
    error_from_response,
)

__all__ = [
    "API_PREFIX",
    "USER_AGENT",
    "VERSION",
    "Connection",
    "ServerCalls",
    "Timeout",
    "Transport",
    "api_base_url",
    "http_error",
    "network_error",
    "present",
    "stream_errors",
]

VERSION = "0.1.0"
USER_AGENT = f"assay-python/{VERSION}"
API_PREFIX = "/api/v1"
_CHUNK = 64 * 1024

Timeout = float | tuple[float, float]
#: Query parameters; None values are left out.
Params = Mapping[str, str | int | float | bool | None]


def api_base_url(url: str) -> str:
    """Return the ``/api/v1`` base for a server URL given with or without that suffix."""
    base = url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"the Assay URL must start with http:// or https:// (got {url!r}): "
            "pass url= or set ASSAY_URL"
        )
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


@dataclass(frozen=True)
class Connection:
    """One Assay server and one API token: the API root and the headers every call carries."""

    base_url: str
    token: str

    @classmethod
    def from_options(cls, url: str | None, token: str | None) -> Connection:
        """From the arguments, else ``$ASSAY_URL`` / ``$ASSAY_TOKEN``; fail fast without them."""
        url = url or os.environ.get("ASSAY_URL")
        token = token or os.environ.get("ASSAY_TOKEN")
        if not url:
            raise ConfigurationError(
                "no Assay server URL: pass url= or set ASSAY_URL (e.g. http://127.0.0.1:8080)"
            )
        if not token:
            raise ConfigurationError("no Assay API token: pass token= or set ASSAY_TOKEN")
        return cls(api_base_url(url), token)

    def new_session(self) -> requests.Session:
        """A session that sends the token and the SDK's user agent with every request."""
        session = requests.Session()
        session.headers.update(
            {
                "Authorization": f"Bearer {self.token}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            }
        )
        return session

    def __repr__(self) -> str:
        return f"Connection(base_url={self.base_url!r})"  # never the token


class RetryingAdapter(HTTPAdapter):
    """Sends a request that may be replayed (:func:`assay._retries.may_replay`) under the
    retry policy, and any other exactly once.

    urllib3's ``Retry`` sees a request's method only; whether a POST may be sent again depends
    on its ``Idempotency-Key`` header and on its body, which only the adapter sees.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(max_retries=policy)
        self._once = HTTPAdapter(max_retries=Retry(0, read=False))

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send ``request``, retrying it only if it may be replayed."""
        if may_replay(request.method or "GET", request.headers, request.body):
            return super().send(request, stream, timeout, verify, cert, proxies)
        return self._once.send(request, stream, timeout, verify, cert, proxies)

    def close(self) -> None:
        """Close both connection pools."""
        super().close()
        self._once.close()


class Transport:
    """Sends the calls of one :class:`assay.Client` to its server; raises an AssayError for
    every error answer and every network failure."""

    def __init__(
        self,
        connection: Connection,
        *,
        timeout: Timeout,
        max_retries: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        self.connection = connection
        self.base_url = connection.base_url
        self.timeout = timeout
        #: Every wait between retries and between polls goes through here (tests record them).
        self.sleep = sleep
        self.session = connection.new_session()
        adapter = RetryingAdapter(
            RetryPolicy.for_client(max_retries, pause=lambda seconds: self.sleep(seconds))
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: object = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        stream: bool = False,
        idempotency_key: str | None = None,
    ) -> requests.Response:
        """Send one call and return its answer; raise an AssayError for any error.

        A POST gets an ``Idempotency-Key`` (a new uuid4 unless ``idempotency_key`` is given),
        which makes it safe to retry; a PATCH is retried only when given one.
        """
        method = method.upper()
        url = self.base_url + path
        headers = {}
        if idempotency_key is None and method == "POST":
            idempotency_key = uuid.uuid4().hex
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        body: Mapping[str, str] | bytes | None = data
        if json is not None:
            body = encode_json(json)  # refused here, naming the field, if JSON cannot carry it
            headers["Content-Type"] = "application/json"
        try:
            response = self.session.request(
                method,
                url,
                params=None if params is None else _without_none(params),
                data=body,
                files=files,
                headers=headers,
                stream=stream,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise network_error(exc, method, url) from exc
        if response.status_code >= 400:
            raise http_error(response)
        return response

    def json(self, method: str, path: str, **options: Any) -> Any:
        """Send one call and return its decoded JSON body (None for an empty body)."""
        response = self.request(method, path, **options)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                "the server answered with something that is not JSON",
                status=response.status_code,
                request_id=response.headers.get("X-Request-Id"),
            ) from None

    def pages(self, path: str, params: Params, page_size: int) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, walking ``page`` until the server's ``total``."""
        query = dict(_without_none(params))
        page = 1
        seen = 0
        while True:
            query.update(page=page, limit=page_size)
            body = self.json("GET", path, params=query)
            if isinstance(body, list):  # an endpoint that does not page
                yield from body
                return
            items = body.get("items") or []
            yield from items
            seen += len(items)
            if not items or seen >= int(body.get("total", seen)):
                return
            page += 1

    def download(self, path: str, destination: str | os.PathLike[str] | None) -> bytes | Path:
        """A streamed body: its bytes, or written to ``destination`` (returned)."""
        response = self.request("GET", path, stream=True)
        with response, stream_errors(response.url):
            if destination is None:
                return response.content
            target = Path(destination)
            with target.open("wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    out.write(chunk)
            return target

    @contextlib.contextmanager
    def lines(self, path: str) -> Iterator[Iterator[bytes]]:
        """The non-empty lines of a streamed body, while the answer stays open."""
        response = self.request("GET", path, stream=True)
        with response:
            yield _non_empty_lines(response)


class ServerCalls:
    """What every group of the client's calls needs: the transport, and the page size."""

    _transport: Transport
    #: How many items each request of a list walk asks for (the server allows up to 500).
    page_size: int = 500
    #: Seconds between two polls of a job the server runs in the background.
    poll_interval: float = 0.5

    def _pages(self, path: str, params: Params) -> Iterator[dict[str, Any]]:
        return self._transport.pages(path, params, self.page_size)


def present(**fields: object) -> dict[str, object]:
    """A JSON body of the fields that were given (None means "not given")."""
    return {key: value for key, value in fields.items() if value is not None}


def _without_none(params: Params) -> dict[str, str | int | float | bool]:
    return {key: value for key, value in params.items() if value is not None}


def _non_empty_lines(response: requests.Response) -> Iterator[bytes]:
    with stream_errors(response.url):
        for line in response.iter_lines(chunk_size=_CHUNK):
            if line.strip():
                yield line


def network_error(exc: requests.RequestException, method: str, url: str) -> AssayError:
    """The AssayError for a request that got no answer."""
    if _timed_out(exc):
        return APITimeoutError(f"{method} {url} timed out: {_root_cause(exc)}")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return ConfigurationError(f"invalid Assay URL {url!r}: {exc}")
    if isinstance(exc, requests.ConnectionError):
        return APIConnectionError(
            f"cannot reach the Assay server ({method} {url}): {_root_cause(exc)}"
        )
    return APIConnectionError(f"{method} {url} failed: {exc}")


def _timed_out(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    # Once retries are used up, requests reports a read timeout as a ConnectionError wrapping
    # urllib3's MaxRetryError (a refused connection is a NewConnectionError, a timeout's kin).
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc.args[0] if exc.args else None, MaxRetryError) and (
        isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)
    )


def _root_cause(exc: BaseException) -> str:
    # requests wraps "[Errno 111] Connection refused" in urllib3's long description.
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if "Read timed out" in text:
        return "read timed out"
    return text


def http_error(response: requests.Response) -> AssayError:
    """The AssayError for an error answer (its body read as the server's error shape)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_from_response(
        response.status_code,
        body,
        request_id=response.headers.get("X-Request-Id"),
        reason=response.reason or "",
    )


@contextlib.contextmanager
def stream_errors(url: str) -> Iterator[None]:
    """Turn a connection that breaks while a streamed body is read into APIConnectionError."""
    try:
        yield
    except requests.RequestException as exc:
        raise APIConnectionError(f"the connection to {url} broke mid-answer: {exc}") from exc
