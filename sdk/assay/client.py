"""The Assay client: one object, one session, one method per server call.

Each group of calls lives in its own module and is mixed in here: the registry
(:mod:`assay.registry`), the audit trail (:mod:`assay.audit`), governance, monitoring, alerts
and explanations. Every method returns the frozen dataclasses of :mod:`assay.types` (or of
its group's module). pandas, pyarrow and skops are imported only inside the calls that need
them, so that ``import assay`` stays light enough for serving code.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from assay._aliases import AliasMethods
from assay._http import Connection, Timeout, Transport, present
from assay._paths import ModelRef, VersionRef
from assay.alerts import AlertMethods
from assay.audit import AuditMethods, verify_audit_export
from assay.clock import Clock
from assay.comparisons import ComparisonMethods
from assay.explanations import ExplanationMethods
from assay.governance import GovernanceMethods
from assay.logger import DeliveryError, PredictionLogger
from assay.monitoring import MonitoringMethods
from assay.registry import RegistryMethods
from assay.rollouts import RolloutMethods
from assay.types import CreatedToken, Identity, Token

__all__ = ["Client", "verify_audit_export"]


class Client(
    AliasMethods,  # first: it adds ``alias=`` to the registry's get_version
    RegistryMethods,
    AuditMethods,
    MonitoringMethods,
    AlertMethods,
    ExplanationMethods,
    GovernanceMethods,
    ComparisonMethods,
    RolloutMethods,
):
    """A connection to one Assay server, authenticated by one API token.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8080``; defaults to ``$ASSAY_URL``.
        token: an API token (``asy_…``); defaults to ``$ASSAY_TOKEN``.
        timeout: seconds to wait for the server on each call (or a ``(connect, read)`` pair).
        max_retries: how often a call is retried after a connection error, a timeout, 408,
            429, 500, 502, 503 or 504 — if it may be sent again: GET, PUT, DELETE, and every
            POST (each carries an ``Idempotency-Key``); never a PATCH.

    Raises:
        ConfigurationError: (a ``ValueError``) when the URL or the token is missing.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: Timeout = 30.0,
        max_retries: int = 2,
    ) -> None:
        self._transport = Transport(
            Connection.from_options(url, token),
            timeout=timeout,
            max_retries=max_retries,
        )

    @property
    def base_url(self) -> str:
        """The API root every call goes to (the server URL plus ``/api/v1``)."""
        return self._transport.base_url

    def close(self) -> None:
        """Close the client's HTTP connections."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(url={self.base_url!r})"

    # -- prediction logging -------------------------------------------------------------------

    def prediction_logger(
        self,
        model: ModelRef,
        version: VersionRef,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        spool_dir: str | os.PathLike[str] | None = None,
        max_queue: int = 100_000,
        max_spool_mb: float = 256,
        on_error: Callable[[DeliveryError], object] | None = None,
        clock: Clock | None = None,
        shadow_of: VersionRef | str | None = None,
    ) -> PredictionLogger:
        """A :class:`PredictionLogger` for one model version (contributor token).

        Args:
            model: the model's name (or a Model).
            version: the version number (or a ModelVersion).
            batch_size: rows per request (at most 10,000).
            flush_interval: seconds after which a partial batch is sent anyway.
            spool_dir: where batches wait while the server is unreachable; a directory per
                model version is made inside. Default: the user's cache directory
                (``~/.cache/assay/spool`` on Linux).
            max_queue: rows held in memory before the oldest are dropped.
            max_spool_mb: disk the spool may use before its oldest batches are dropped.
            on_error: called (from a background thread) with a :class:`DeliveryError` for
                every batch with rows the server refused.
            clock: what the logger reads the time from and waits with (an
                :class:`assay.clock.Clock`); the system's unless a test gives its own.
            shadow_of: log this version in the shadow of a champion: a version number or
                an alias (``"champion"``, resolved once, now). Log each prediction with the
                champion's ``prediction_id``; the rows are stored under this version but are
                not its served traffic, and :meth:`compare_versions` pairs them with the
                champion's.

        Raises:
            NotFound: ``shadow_of`` is an alias that names no version.
        """
        if isinstance(shadow_of, str) and not shadow_of.isdigit():
            shadow_of = self.get_version(model, alias=shadow_of).version
        elif isinstance(shadow_of, str):
            shadow_of = int(shadow_of)
        return PredictionLogger(
            self._transport.connection,
            model,
            version,
            batch_size=batch_size,
            flush_interval=flush_interval,
            spool_dir=spool_dir,
            max_queue=max_queue,
            max_spool_mb=max_spool_mb,
            on_error=on_error,
            clock=clock,
            shadow_of=shadow_of,
        )

    # -- tokens -------------------------------------------------------------------------------

    def whoami(self) -> Identity:
        """Return the token this client calls with: its id, name, role and expiry."""
        return Identity.from_json(self._transport.json("GET", "/whoami"))

    def create_token(self, name: str, role: str, expires_days: float | None = None) -> CreatedToken:
        """Create an API token (admin); its secret, ``.token``, is shown this once only.

        Args:
            role: ``viewer``, ``contributor``, ``approver`` or ``admin``.
            expires_days: days until it expires; None for a token that does not expire.
        """
        body = present(name=name, role=role, expires_days=expires_days)
        return CreatedToken.from_json(self._transport.json("POST", "/tokens", json=body))

    def list_tokens(self) -> list[Token]:
        """Return every API token (admin), without their secrets."""
        return [Token.from_json(item) for item in self._pages("/tokens", {})]

    def revoke_token(self, token_id: int) -> Token:
        """Revoke an API token (admin); calls made with it get 401 from then on."""
        return Token.from_json(self._transport.json("POST", f"/tokens/{int(token_id)}/revoke"))
