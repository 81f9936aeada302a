"""The Assay client: one method per server call, returning the dataclasses of :mod:`assay.types`.

pandas, pyarrow and skops are imported only inside the calls that need them, so that
``import assay`` stays light enough for serving code.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import requests

from assay import auditchain
from assay._http import Timeout, Transport, stream_errors
from assay._uploads import (
    Features,
    artifact_part,
    feature_specs,
    merged_lineage,
    reference_part,
)
from assay.alerts import AlertMethods
from assay.errors import ConfigurationError
from assay.explanations import ExplanationMethods
from assay.governance import GovernanceMethods
from assay.logger import PredictionMethods
from assay.monitoring import MonitoringMethods
from assay.types import (
    AuditEvent,
    AuditVerification,
    CreatedToken,
    Identity,
    Lineage,
    Model,
    ModelVersion,
    Token,
)

__all__ = ["Client", "verify_audit_export"]

PathLike = str | os.PathLike[str]
ModelRef = str | Model
VersionRef = int | ModelVersion

_CHUNK = 64 * 1024


class Client(
    PredictionMethods, MonitoringMethods, AlertMethods, ExplanationMethods, GovernanceMethods
):
    """A connection to one Assay server, authenticated by one API token.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8080``; defaults to ``$ASSAY_URL``.
        token: an API token (``asy_…``); defaults to ``$ASSAY_TOKEN``.
        timeout: seconds to wait for the server on each call (or a ``(connect, read)`` pair).
        max_retries: how often an idempotent call is retried after a connection error,
            a timeout, 429, 502, 503 or 504.

    Raises:
        ConfigurationError: (a ``ValueError``) when the URL or the token is missing.
    """

    #: How many items each request of a list walk asks for (the server allows up to 500).
    page_size: int = 500

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: Timeout = 30.0,
        max_retries: int = 2,
    ) -> None:
        url = url or os.environ.get("ASSAY_URL")
        token = token or os.environ.get("ASSAY_TOKEN")
        if not url:
            raise ConfigurationError(
                "no Assay server URL: pass url= or set ASSAY_URL (e.g. http://127.0.0.1:8080)"
            )
        if not token:
            raise ConfigurationError("no Assay API token: pass token= or set ASSAY_TOKEN")
        self._transport = Transport(url, token, timeout=timeout, max_retries=max_retries)

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

    # -- models -------------------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        task: str,
        risk_tier: str = "low",
        owner: str | None = None,
        description: str = "",
        tags: Sequence[str] | None = None,
    ) -> Model:
        """Create a model (contributor).

        Args:
            name: a lowercase slug: letters, digits, ``-``, ``_`` and ``.``.
            task: ``binary_classification``, ``multiclass_classification`` or ``regression``.
            risk_tier: ``low``, ``medium`` or ``high``.

        Raises:
            Conflict: a model of that name exists. ValidationError: a field is wrong.
        """
        body: dict[str, Any] = {"name": name, "task": task, "risk_tier": risk_tier}
        body["description"] = description
        body["tags"] = list(tags or [])
        if owner is not None:
            body["owner"] = owner
        return Model.from_json(self._transport.json("POST", "/models", json=body))

    def get_model(self, name: ModelRef) -> Model:
        """Return one model. Raises NotFound when there is none of that name."""
        return Model.from_json(self._transport.json("GET", _model_path(name)))

    def list_models(
        self,
        *,
        q: str | None = None,
        task: str | None = None,
        risk_tier: str | None = None,
        owner: str | None = None,
        tag: str | None = None,
        include_archived: bool = False,
        sort: str | None = None,
    ) -> list[Model]:
        """Return every model matching the filters, walking all pages.

        Args:
            q: part of the name. tag: a tag the model carries.
            sort: ``name``, ``created_at`` or ``updated_at``; ``-field`` for descending.
        """
        params = {"q": q, "task": task, "risk_tier": risk_tier, "owner": owner, "tag": tag}
        params.update(sort=sort, include_archived="true" if include_archived else None)
        return [Model.from_json(item) for item in self._walk_pages("/models", params)]

    def update_model(
        self,
        name: ModelRef,
        *,
        description: str | None = None,
        owner: str | None = None,
        tags: Sequence[str] | None = None,
        risk_tier: str | None = None,
    ) -> Model:
        """Change a model's documentation (contributor) or its risk tier (admin).

        Only the arguments given are sent. Raises Conflict if the model is archived.
        """
        body = _without_none(description=description, owner=owner, risk_tier=risk_tier)
        if tags is not None:
            body["tags"] = list(tags)
        return Model.from_json(self._transport.json("PATCH", _model_path(name), json=body))

    def archive_model(self, name: ModelRef) -> Model:
        """Archive a model (admin); models are never deleted."""
        return Model.from_json(self._transport.json("POST", _model_path(name) + "/archive"))

    def restore_model(self, name: ModelRef) -> Model:
        """Undo the archiving of a model (admin)."""
        return Model.from_json(self._transport.json("POST", _model_path(name) + "/restore"))

    # -- versions -----------------------------------------------------------------------------

    def register_version(
        self,
        model: ModelRef,
        artifact: PathLike | bytes | IO[bytes] | Any | None = None,
        *,
        reference_data: Any = None,
        target: str | None = None,
        prediction: str | None = None,
        features: Features | None = None,
        lineage: Mapping[str, Any] | Lineage | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        description: str = "",
        tags: Sequence[str] | None = None,
        format: str | None = None,
        model_card: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register a new version of a model (contributor).

        Args:
            artifact: the model file: a path, its bytes (pass ``format``), a binary file, or
                a scikit-learn estimator (saved with ``skops.io.dumps``; needs skops).
            reference_data: the drift baseline, features plus target: a pandas DataFrame
                (sent as Parquet when pyarrow is installed, else CSV) or a CSV/Parquet path.
            target, prediction: the names of the target and prediction columns.
            features: a dict ``name -> kind``, a list of ``{"name", "kind"}`` dicts, or a list
                of names whose kinds are read from a DataFrame ``reference_data`` (numbers are
                ``numerical``, everything else ``categorical``). Omit it to let the server
                infer the features from the reference data.
            lineage: ``dataset_uri``, ``dataset_hash``, ``git_commit``, ``params``,
                ``metrics``, ``metadata``; ``params`` and ``metrics`` are merged into it.
            format: ``skops``, ``onnx`` or ``pickle``; the server infers it from the file name.

        Returns:
            The registered version, numbered by the server.

        Raises:
            ValidationError: the server rejected a field (see ``details``).
            PayloadTooLarge: the artifact or the body is over the server's limit.
        """
        metadata = _without_none(
            description=description, target=target, prediction=prediction, format=format
        )
        if tags is not None:
            metadata["tags"] = list(tags)
        if model_card is not None:
            metadata["model_card"] = dict(model_card)
        full_lineage = merged_lineage(lineage, params, metrics)
        if full_lineage:
            metadata["lineage"] = full_lineage
        if features is not None:
            metadata["features"] = feature_specs(features, reference_data)
        files: dict[str, tuple[str, bytes, str]] = {}
        if artifact is not None:
            filename, content, inferred_format = artifact_part(artifact, format)
            if inferred_format and not format:
                metadata["format"] = inferred_format
            metadata["artifact_sha256"] = hashlib.sha256(content).hexdigest()
            files["artifact"] = (filename, content, "application/octet-stream")
        if reference_data is not None:
            files["reference_data"] = reference_part(reference_data)
        path = _model_path(model) + "/versions"
        if files:
            form = {"metadata": json.dumps(metadata)}
            body = self._transport.json("POST", path, data=form, files=files)
        else:
            body = self._transport.json("POST", path, json=metadata)
        return ModelVersion.from_json(body)

    def get_version(self, model: ModelRef, version: VersionRef) -> ModelVersion:
        """Return one version of a model. Raises NotFound for an unknown model or version."""
        return ModelVersion.from_json(self._transport.json("GET", _version_path(model, version)))

    def list_versions(
        self,
        model: ModelRef,
        *,
        stage: str | None = None,
        tag: str | None = None,
        sort: str | None = None,
    ) -> list[ModelVersion]:
        """Return every version of a model matching the filters, walking all pages.

        Args:
            stage: ``none``, ``staging``, ``production`` or ``archived``.
            sort: ``version`` or ``created_at``; ``-field`` for descending.
        """
        params = {"stage": stage, "tag": tag, "sort": sort}
        items = self._walk_pages(_model_path(model) + "/versions", params)
        return [ModelVersion.from_json(item) for item in items]

    def update_version(
        self,
        model: ModelRef,
        version: VersionRef,
        *,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        model_card: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Change a version's documentation (contributor); everything else is immutable."""
        body = _without_none(description=description)
        if tags is not None:
            body["tags"] = list(tags)
        if model_card is not None:
            body["model_card"] = dict(model_card)
        path = _version_path(model, version)
        return ModelVersion.from_json(self._transport.json("PATCH", path, json=body))

    def set_stage(
        self,
        model: ModelRef,
        version: VersionRef,
        stage: str,
        *,
        comment: str | None = None,
        archive_existing: bool = False,
    ) -> ModelVersion:
        """Move a version to ``none``, ``staging``, ``production`` or ``archived`` (admin).

        With ``archive_existing``, the versions already in that stage are archived.
        """
        body = _without_none(stage=stage, comment=comment)
        body["archive_existing"] = archive_existing
        path = _version_path(model, version) + "/stage"
        return ModelVersion.from_json(self._transport.json("POST", path, json=body))

    def download_artifact(
        self, model: ModelRef, version: VersionRef, path: PathLike | None = None
    ) -> bytes | Path:
        """Download a version's artifact: its bytes, or written to ``path`` (streamed).

        Returns the bytes when ``path`` is None, else the path written.
        """
        return self._download(_version_path(model, version) + "/artifact", path)

    def download_reference(
        self, model: ModelRef, version: VersionRef, path: PathLike | None = None
    ) -> bytes | Path:
        """Download a version's reference dataset as Parquet: its bytes, or written to ``path``."""
        return self._download(_version_path(model, version) + "/reference", path)

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
        body = _without_none(name=name, role=role, expires_days=expires_days)
        return CreatedToken.from_json(self._transport.json("POST", "/tokens", json=body))

    def list_tokens(self) -> list[Token]:
        """Return every API token (admin), without their secrets."""
        return [Token.from_json(item) for item in self._walk_pages("/tokens", {})]

    def revoke_token(self, token_id: int) -> Token:
        """Revoke an API token (admin); calls made with it get 401 from then on."""
        body = self._transport.json("POST", f"/tokens/{int(token_id)}/revoke")
        return Token.from_json(body)

    # -- audit trail --------------------------------------------------------------------------

    def audit_events(
        self,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> list[AuditEvent]:
        """Return the audit events matching the filters, oldest first, walking the cursor.

        Args:
            target_type: e.g. ``model`` or ``model_version``. target_id: e.g. ``churn/2``.
            actor: the name of the token that acted. action: e.g. ``version.registered``.
            since, until: datetimes (naive ones are taken as UTC) or ISO 8601 strings.
        """
        params: dict[str, Any] = _without_none(
            target_type=target_type,
            target_id=target_id,
            actor=actor,
            action=action,
            since=_iso(since),
            until=_iso(until),
        )
        params["limit"] = self.page_size
        events: list[AuditEvent] = []
        while True:
            body = self._transport.json("GET", "/audit", params=params)
            events.extend(AuditEvent.from_json(item) for item in body.get("items") or ())
            cursor = body.get("next_cursor")
            if cursor is None or not body.get("items"):
                return events
            params["after_seq"] = cursor

    def verify_audit(self) -> AuditVerification:
        """Ask the server to recompute the audit chain (``GET /audit/verify``)."""
        return AuditVerification.from_json(self._transport.json("GET", "/audit/verify"))

    def export_audit(self, path_or_file: PathLike | IO[bytes] | IO[str]) -> int:
        """Stream the audit trail as JSON Lines to a path or an open file.

        The export ends with the chain-head line ``{"chain_head": {"seq", "hash"}}`` that
        :func:`verify_audit_export` checks against. Returns the number of events written
        (the chain-head line is not counted).
        """
        with self._export_lines() as lines, _open_for_write(path_or_file) as write:
            events = 0
            for line in lines:
                write(line + b"\n")
                if not _is_chain_head(line):
                    events += 1
            return events

    def verify_audit_locally(self) -> AuditVerification:
        """Download the audit export and recompute its hash chain here, with the stdlib only.

        Unlike :meth:`verify_audit`, this does not trust the server's own check.
        """
        with self._export_lines() as lines:
            return verify_audit_export(lines)

    # -- plumbing -----------------------------------------------------------------------------

    def _walk_pages(self, path: str, filters: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        params = {key: value for key, value in filters.items() if value is not None}
        page = 1
        seen = 0
        while True:
            params.update(page=page, limit=self.page_size)
            body = self._transport.json("GET", path, params=params)
            if isinstance(body, list):  # an endpoint that does not page
                yield from body
                return
            items = body.get("items") or []
            yield from items
            seen += len(items)
            if not items or seen >= int(body.get("total", seen)):
                return
            page += 1

    def _download(self, path: str, destination: PathLike | None) -> bytes | Path:
        response = self._transport.request("GET", path, stream=True)
        with response, stream_errors(response.url):
            if destination is None:
                return response.content
            target = Path(destination)
            with target.open("wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    out.write(chunk)
            return target

    @contextlib.contextmanager
    def _export_lines(self) -> Iterator[Iterator[bytes]]:
        response = self._transport.request("GET", "/audit/export", stream=True)
        with response:
            yield _non_empty_lines(response)


def _non_empty_lines(response: requests.Response) -> Iterator[bytes]:
    with stream_errors(response.url):
        for line in response.iter_lines(chunk_size=_CHUNK):
            if line.strip():
                yield line


def verify_audit_export(
    source: PathLike | Iterable[str | bytes],
) -> AuditVerification:
    """Recompute the hash chain of an audit export (a JSON Lines path, or its lines).

    The export must end with its chain-head line; an export without one is reported as
    broken, since events cut from its end could not otherwise be noticed.

    Raises:
        ValueError: a line is not a JSON object. OSError: the file cannot be read.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as lines:
            return verify_audit_export(lines)
    last_line: list[str | bytes] = []

    def remember_last(lines: Iterable[str | bytes]) -> Iterator[str | bytes]:
        for line in lines:
            if line.strip():
                last_line[:] = [line]
                yield line

    result = auditchain.verify_export_lines(remember_last(source))
    if result.ok and not (last_line and _is_chain_head(last_line[0])):
        return AuditVerification(
            ok=False,
            checked=result.checked,
            first_broken_seq=result.checked + 1,
            head_seq=None,
            message="the export has no chain_head line: it may have been cut short",
        )
    return AuditVerification(
        ok=result.ok,
        checked=result.checked,
        first_broken_seq=result.first_broken_seq,
        head_seq=result.head_seq,
        message=result.message,
    )


def _is_chain_head(line: str | bytes) -> bool:
    marker = b"chain_head" if isinstance(line, bytes) else "chain_head"
    if marker not in line:  # type: ignore[operator]
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "chain_head" in record


@contextlib.contextmanager
def _open_for_write(
    target: PathLike | IO[bytes] | IO[str],
) -> Iterator[Callable[[bytes], object]]:
    """Yield a writer of bytes to a path (opened and closed here) or to an open file."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, "wb") as out:
            yield out.write
        return
    if isinstance(target, io.TextIOBase):
        text = target
        yield lambda data: text.write(data.decode("utf-8"))
    else:
        yield target.write  # type: ignore[misc]
    target.flush()


def _model_path(model: ModelRef) -> str:
    name = model.name if isinstance(model, Model) else str(model)
    return "/models/" + quote(name, safe="")


def _version_path(model: ModelRef, version: VersionRef) -> str:
    if isinstance(version, ModelVersion):
        version = version.version
    return f"{_model_path(model)}/versions/{int(version)}"


def _without_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
