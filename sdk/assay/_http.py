"""The client's transport: one ``requests.Session``, timeouts, retries, errors mapped once.

Retries follow openai-python's: exponential backoff from 0.5 s doubling up to 8 s, with jitter,
``Retry-After`` honoured up to :data:`RETRY_AFTER_CAP` seconds; only for connection errors,
timeouts, 429, 502, 503 and 504, and only on idempotent methods (never a POST, which could
register a version twice).
"""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from assay.errors import (
    APIConnectionError,
    APITimeoutError,
    AssayError,
    ConfigurationError,
    ServerError,
    error_from_response,
)

VERSION = "0.1.0"
USER_AGENT = f"assay-python/{VERSION}"
API_PREFIX = "/api/v1"

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
RETRY_AFTER_CAP = 60.0

Timeout = float | tuple[float, float]


def api_base_url(url: str) -> str:
    """Return the ``/api/v1`` base for a server URL given with or without that suffix."""
    base = url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"the Assay URL must start with http:// or https:// (got {url!r}): "
            "pass url= or set ASSAY_URL"
        )
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


def backoff_delay(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (0-based): doubling, capped, jittered."""
    delay = min(INITIAL_RETRY_DELAY * 2.0**retry, MAX_RETRY_DELAY)
    return delay * (1.0 - 0.25 * random.random())


def retry_after_seconds(response: requests.Response) -> float | None:
    """The server's ``Retry-After`` in seconds (a number or an HTTP date), capped; else None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


class Transport:
    """Sends requests to one Assay server with one token; owned by a :class:`assay.Client`."""

    def __init__(self, url: str, token: str, *, timeout: Timeout, max_retries: int) -> None:
        if max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        self.base_url = api_base_url(url)
        self.timeout = timeout
        self.max_retries = max_retries
        # Injectable so tests can record the backoff instead of waiting for it.
        self.sleep: Callable[[float], None] = time.sleep
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            }
        )

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one call, retrying what is safe to retry; raise an AssayError for any error."""
        method = method.upper()
        url = self.base_url + path
        retryable = method in IDEMPOTENT_METHODS
        retries = 0
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    files=files,
                    stream=stream,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                error = _network_error(exc, method, url)
                if (
                    isinstance(error, APIConnectionError)
                    and retryable
                    and retries < self.max_retries
                ):
                    self.sleep(backoff_delay(retries))
                    retries += 1
                    continue
                raise error from exc
            status = response.status_code
            if status in RETRY_STATUSES and retryable and retries < self.max_retries:
                delay = retry_after_seconds(response)
                response.close()
                self.sleep(backoff_delay(retries) if delay is None else delay)
                retries += 1
                continue
            if status >= 400:
                raise _error_from(response)
            return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one call and return its decoded JSON body (None for an empty body)."""
        response = self.request(method, path, **kwargs)
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


def _network_error(exc: requests.RequestException, method: str, url: str) -> AssayError:
    if isinstance(exc, requests.Timeout):
        return APITimeoutError(f"{method} {url} timed out: {exc}")
    if isinstance(exc, requests.ConnectionError):
        return APIConnectionError(
            f"cannot reach the Assay server ({method} {url}): {_root_cause(exc)}"
        )
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return ConfigurationError(f"invalid Assay URL {url!r}: {exc}")
    return APIConnectionError(f"{method} {url} failed: {exc}")


def _root_cause(exc: BaseException) -> str:
    # requests wraps "[Errno 111] Connection refused" in urllib3's long description.
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return match.group(1).strip() if match else text


def _error_from(response: requests.Response) -> AssayError:
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
