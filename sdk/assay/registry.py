"""The registry in the SDK: models, their versions, and the files a version carries.

:class:`RegistryMethods` is mixed into :class:`assay.Client`; pandas, pyarrow and skops are
imported only inside the calls that need them (see :mod:`assay._uploads`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

from assay._http import ServerCalls, present
from assay._paths import ModelRef, VersionRef, model_path, version_path
from assay._uploads import (
    Features,
    artifact_part,
    check_estimator_features,
    feature_specs,
    merged_lineage,
    reference_part,
)
from assay.types import Lineage, Model, ModelVersion

__all__ = ["RegistryMethods"]

PathLike = str | os.PathLike[str]


class RegistryMethods(ServerCalls):
    """Models, versions, stages and downloads (mixed into Client)."""

    # -- models -------------------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        task: str,
        risk_tier: str = "low",
        owner: str | None = None,
        description: str = "",
        tags: Sequence[str] | None = None,
        classes: Sequence[object] | None = None,
        retention_days: int | Literal["forever"] | None = None,
    ) -> Model:
        """Create a model (contributor).

        Args:
            name: a lowercase slug: letters, digits, ``-``, ``_`` and ``.``.
            task: ``binary_classification``, ``multiclass_classification`` or ``regression``.
            risk_tier: ``low``, ``medium`` or ``high``.
            classes: a classifier's classes (text or numbers): exactly two for a binary
                classifier, at least two for a multiclass one, no two alike. Predictions
                and labels must be one of them, and a version's reference target may hold
                no other value. Without them the classes are inferred from each version's
                reference target (a binary classifier's default is 0 and 1).
            retention_days: days the server keeps the model's predictions; ``"forever"``
                keeps them all; None (the default) takes the server's
                ``ASSAY_RETENTION_DAYS``.

        Raises:
            Conflict: a model of that name exists. ValidationError: a field is wrong.
        """
        body = present(name=name, task=task, risk_tier=risk_tier, owner=owner)
        body.update(description=description, tags=list(tags or []))
        if classes is not None:
            body["classes"] = list(classes)
        if retention_days is not None:
            body["retention_days"] = _retention(retention_days)
        return Model.from_json(self._transport.json("POST", "/models", json=body))

    def get_model(self, name: ModelRef) -> Model:
        """Return one model. Raises NotFound when there is none of that name."""
        return Model.from_json(self._transport.json("GET", model_path(name)))

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
        return [Model.from_json(item) for item in self._pages("/models", params)]

    def update_model(
        self,
        name: ModelRef,
        *,
        description: str | None = None,
        owner: str | None = None,
        tags: Sequence[str] | None = None,
        risk_tier: str | None = None,
        retention_days: int | Literal["forever"] | None = None,
    ) -> Model:
        """Change a model's documentation (contributor) or its risk tier (admin), or how
        many days its predictions are kept (``retention_days``; ``"forever"`` keeps them
        all).

        Only the arguments given are sent. Raises Conflict if the model is archived.
        """
        body = present(description=description, owner=owner, risk_tier=risk_tier)
        if tags is not None:
            body["tags"] = list(tags)
        if retention_days is not None:
            body["retention_days"] = _retention(retention_days)
        return Model.from_json(self._transport.json("PATCH", model_path(name), json=body))

    def archive_model(self, name: ModelRef) -> Model:
        """Archive a model (admin); models are never deleted."""
        return Model.from_json(self._transport.json("POST", model_path(name) + "/archive"))

    def restore_model(self, name: ModelRef) -> Model:
        """Undo the archiving of a model (admin)."""
        return Model.from_json(self._transport.json("POST", model_path(name) + "/restore"))

    # -- versions -----------------------------------------------------------------------------

    def register_version(
        self,
        model: ModelRef,
        artifact: PathLike | bytes | IO[bytes] | object | None = None,
        *,
        reference_data: object = None,
        target: str | None = None,
        prediction: str | None = None,
        features: Features | None = None,
        lineage: Mapping[str, object] | Lineage | None = None,
        params: Mapping[str, object] | None = None,
        metrics: Mapping[str, object] | None = None,
        description: str = "",
        tags: Sequence[str] | None = None,
        format: str | None = None,
        model_card: Mapping[str, object] | None = None,
        triggered_by: Mapping[str, int] | None = None,
    ) -> ModelVersion:
        """Register a new version of a model (contributor).

        Args:
            artifact: the model file: a path, its bytes (pass ``format``), a binary file, or
                a scikit-learn estimator (saved with ``skops.io.dumps``; needs skops).
            reference_data: the drift baseline, features plus target: a pandas DataFrame
                (sent as Parquet when pyarrow is installed, else CSV) or a CSV/Parquet path.
            target: the name of the target column.
            prediction: the name of the prediction column.
            features: a dict ``name -> kind``, a list of ``{"name", "kind"}`` dicts, or a list
                of names whose kinds are read from a DataFrame ``reference_data`` (numbers are
                ``numerical``, everything else ``categorical``). Omit it to let the server
                infer the features from the reference data.
            lineage: ``dataset_uri``, ``dataset_hash``, ``git_commit``, ``params``,
                ``metrics``, ``metadata``; ``params`` and ``metrics`` are merged into it.
            format: ``skops``, ``onnx`` or ``pickle``; the server infers it from the file name.
            triggered_by: ``{"alert": id}``: the alert of this model the version was retrained
                for (a ``retraining.suggested`` event names it); the version page and the
                compliance report then show the chain from the alert to the version.

        Returns:
            The registered version, numbered by the server.

        Raises:
            ValidationError: the server rejected a field (see ``details``), or
                ``triggered_by`` names no alert of this model.
            PayloadTooLarge: the artifact or the body is over the server's limit.
        """
        metadata = present(
            description=description, target=target, prediction=prediction, format=format
        )
        if tags is not None:
            metadata["tags"] = list(tags)
        if model_card is not None:
            metadata["model_card"] = dict(model_card)
        if triggered_by is not None:
            metadata["triggered_by"] = dict(triggered_by)
        full_lineage = merged_lineage(lineage, params, metrics)
        if full_lineage:
            metadata["lineage"] = full_lineage
        declared = None if features is None else feature_specs(features, reference_data)
        if declared is not None:
            metadata["features"] = declared
        if artifact is not None and not _is_file_like(artifact):
            check_estimator_features(artifact, declared, reference_data, (target, prediction))
        # Every part is read into bytes first, so that a retried upload sends all of it again.
        files: dict[str, tuple[str, bytes, str]] = {}
        if artifact is not None:
            filename, content, inferred_format = artifact_part(artifact, format)
            if inferred_format and not format:
                metadata["format"] = inferred_format
            metadata["artifact_sha256"] = hashlib.sha256(content).hexdigest()
            files["artifact"] = (filename, content, "application/octet-stream")
        if reference_data is not None:
            files["reference_data"] = reference_part(reference_data)
        path = model_path(model) + "/versions"
        if files:
            form = {"metadata": json.dumps(metadata)}
            body = self._transport.json("POST", path, data=form, files=files)
        else:
            body = self._transport.json("POST", path, json=metadata)
        return ModelVersion.from_json(body)

    def get_version(self, model: ModelRef, version: VersionRef) -> ModelVersion:
        """Return one version of a model. Raises NotFound for an unknown model or version."""
        return ModelVersion.from_json(self._transport.json("GET", version_path(model, version)))

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
        items = self._pages(model_path(model) + "/versions", params)
        return [ModelVersion.from_json(item) for item in items]

    def update_version(
        self,
        model: ModelRef,
        version: VersionRef,
        *,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        model_card: Mapping[str, object] | None = None,
    ) -> ModelVersion:
        """Change a version's documentation (contributor); everything else is immutable."""
        body = present(description=description)
        if tags is not None:
            body["tags"] = list(tags)
        if model_card is not None:
            body["model_card"] = dict(model_card)
        path = version_path(model, version)
        return ModelVersion.from_json(self._transport.json("PATCH", path, json=body))

    def set_stage(
        self,
        model: ModelRef,
        version: VersionRef,
        stage: str,
        *,
        reason: str | None = None,
        comment: str | None = None,
        archive_existing: bool = False,
    ) -> ModelVersion:
        """Move a version to ``none``, ``staging``, ``production`` or ``archived`` (admin).

        A move to ``staging`` or ``production`` overrides the approval gate: the policies and
        approvals are skipped, so ``reason`` is required (a :class:`ValidationError` without
        one). The server records and audits the override, and the gate then answers
        ``override`` for the version, passing only where the policies let overrides pass
        (``approvals.overrides_pass``). To go through the gate instead, use
        :meth:`request_promotion`. Moving to ``archived`` or ``none`` needs no reason.

        Args:
            reason: why the gate is overridden; kept in the audit trail and stage history.
            comment: a note for the stage history.
            archive_existing: archive the versions already in that stage.
        """
        body = present(
            stage=stage, reason=reason, comment=comment, archive_existing=archive_existing
        )
        path = version_path(model, version) + "/stage"
        return ModelVersion.from_json(self._transport.json("POST", path, json=body))

    def download_artifact(
        self, model: ModelRef, version: VersionRef, path: PathLike | None = None
    ) -> bytes | Path:
        """Download a version's artifact: its bytes, or written to ``path`` (streamed).

        Returns the bytes when ``path`` is None, else the path written.
        """
        return self._transport.download(version_path(model, version) + "/artifact", path)

    def download_reference(
        self, model: ModelRef, version: VersionRef, path: PathLike | None = None
    ) -> bytes | Path:
        """Download a version's reference dataset as Parquet: its bytes, or written to ``path``."""
        return self._transport.download(version_path(model, version) + "/reference", path)


def _is_file_like(artifact: object) -> bool:
    """A path, bytes or a binary file, rather than an estimator object."""
    return isinstance(artifact, (str, os.PathLike, bytes, bytearray, memoryview)) or callable(
        getattr(artifact, "read", None)
    )


def _retention(days: int | Literal["forever"]) -> int | None:
    """``retention_days`` as the API takes it: a number of days, or null for ever."""
    return None if days == "forever" else days
