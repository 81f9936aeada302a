"""Which answers deserve another try, which requests may be sent again, how long to wait.

The one definition both the client and the prediction logger use. The client retries through
urllib3's ``Retry`` (:class:`RetryPolicy`, mounted by :mod:`assay._http`); the logger keeps its
own backoff, with its spool behind it, but classifies answers with :func:`verdict` so that a
status the client retries is one the logger retries.

- Retried: connection errors, timeouts, and the statuses in :data:`RETRY_STATUSES` — 408, 429,
  500, 502, 503, 504. Every other answer is final.
- Waits: 0.5 s before the first retry, doubling up to 8 s, each less up to a quarter at
  random (after openai-python); or the server's ``Retry-After``, at most
  :data:`RETRY_AFTER_CAP` seconds.
- Sent again only when that cannot do a thing twice and the body can be sent whole again:
  GET, HEAD, PUT, DELETE, OPTIONS, and a POST or PATCH carrying an ``Idempotency-Key`` (the
  server answers a key it has seen with the first answer, for 24 h).
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

__all__ = [
    "IDEMPOTENCY_HEADER",
    "IDEMPOTENT_METHODS",
    "KEYED_METHODS",
    "MAX_RETRY_DELAY",
    "OUTAGE_STATUSES",
    "RETRY_AFTER_CAP",
    "RETRY_STATUSES",
    "RetryPolicy",
    "Verdict",
    "backoff_delay",
    "may_replay",
    "retry_after_seconds",
    "verdict",
]

#: Answers that say "not now" rather than "not this": worth the same request again.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: The retryable answers that are never the request's fault: a proxy or the server saying it
#: is down, overloaded or too slow. (A 500 may be the request's fault: see the logger.)
OUTAGE_STATUSES = RETRY_STATUSES - {500}
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Methods sent again only when the request carries an :data:`IDEMPOTENCY_HEADER`.
KEYED_METHODS = frozenset({"POST", "PATCH"})
IDEMPOTENCY_HEADER = "Idempotency-Key"

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
RETRY_AFTER_CAP = 60.0
#: Each wait is shortened by up to this share, at random, so clients spread out.
JITTER = 0.25
# 2.0 ** 1024 overflows a float; every delay has reached its cap long before this.
_MAX_DOUBLINGS = 64


class Verdict(enum.Enum):
    """What an answer means for the request that got it."""

    DONE = "done"  # 2xx/3xx: answered
    RETRY = "retry"  # a status of RETRY_STATUSES: try again later
    FINAL = "final"  # any other 4xx/5xx: sending it again would get the same answer


def verdict(status: int) -> Verdict:
    """Classify an HTTP status the one way the client and the logger share."""
    if status in RETRY_STATUSES:
        return Verdict.RETRY
    if status >= 400:
        return Verdict.FINAL
    return Verdict.DONE


def backoff_delay(
    retry: int, initial: float = INITIAL_RETRY_DELAY, maximum: float = MAX_RETRY_DELAY
) -> float:
    """Seconds to wait before retry number ``retry`` (0-based): doubling, capped, jittered."""
    delay = min(initial * 2.0 ** min(retry, _MAX_DOUBLINGS), maximum)
    return delay * (1.0 - JITTER * random.random())


def retry_after_seconds(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """A ``Retry-After`` header's seconds (a number or an HTTP date), capped; else None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def may_replay(method: str, headers: Mapping[str, str], body: object) -> bool:
    """Whether a request can be sent again without doing anything twice, body and all.

    A body of bytes is sent again as it is, a seekable stream is rewound by urllib3; a
    generator or a pipe could only be sent again truncated, so such a request is sent once.
    """
    method = method.upper()
    if method not in IDEMPOTENT_METHODS and not (
        method in KEYED_METHODS and headers.get(IDEMPOTENCY_HEADER)
    ):
        return False
    if body is None or isinstance(body, (bytes, str)):
        return True
    seekable = getattr(body, "seekable", None)
    return callable(seekable) and bool(seekable()) and hasattr(body, "tell")


_Policy = TypeVar("_Policy", bound="RetryPolicy")


class RetryPolicy(Retry):
    """urllib3's ``Retry``, waiting as this module says, through an injectable ``pause``.

    urllib3's own ``Retry`` differs in three ways that matter here: it waits 0 s before the
    first retry (``backoff_factor * 2 ** (retries - 1)`` counts from the second), it adds its
    jitter before the cap (so in an outage every client retries at exactly ``backoff_max``),
    and it also retries a 413 that carries a ``Retry-After``.
    """

    RETRY_AFTER_STATUS_CODES = RETRY_STATUSES

    #: Called with the seconds to wait before each retry; tests record instead of waiting.
    pause: Callable[[float], None] = staticmethod(time.sleep)

    @classmethod
    def for_client(cls, max_retries: int, pause: Callable[[float], None]) -> RetryPolicy:
        """The policy a :class:`assay.Client` mounts: up to ``max_retries`` retries."""
        policy = cls(
            total=max_retries,
            other=0,  # TLS and proxy failures: the same request would fail the same way
            allowed_methods=IDEMPOTENT_METHODS | KEYED_METHODS,  # see may_replay
            status_forcelist=RETRY_STATUSES,
            backoff_factor=INITIAL_RETRY_DELAY,
            backoff_max=MAX_RETRY_DELAY,
            respect_retry_after_header=True,
            raise_on_status=False,  # hand the last answer back, to map its error
        )
        policy.pause = pause
        return policy

    def new(self: _Policy, **options: object) -> _Policy:
        """A copy with ``options`` changed (urllib3 makes one per attempt), keeping ``pause``."""
        copy = super().new(**options)
        copy.pause = self.pause
        return copy

    def get_backoff_time(self) -> float:
        """The wait before the next retry: :func:`backoff_delay` of the failures so far."""
        if not self.history:
            return 0.0
        return backoff_delay(len(self.history) - 1, self.backoff_factor, self.backoff_max)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        """The answer's ``Retry-After`` in seconds, capped; None when absent or unreadable."""
        return retry_after_seconds(response.headers.get("Retry-After"))

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait before the next attempt: as long as ``Retry-After`` says, else the backoff."""
        delay = None
        if response is not None and self.respect_retry_after_header:
            delay = self.get_retry_after(response)
        if delay is None:
            delay = self.get_backoff_time()
        if delay > 0:
            self.pause(delay)
