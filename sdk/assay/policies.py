"""Policies in the SDK: applying policy-as-code files and reading the versions in force.

:class:`PolicyMethods` is mixed into :class:`assay.Client`; ``assay policies apply`` calls it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from assay._http import ServerCalls
from assay._json import FreeForm, JSONObject, json_objects
from assay._paths import policy_path

__all__ = ["AppliedPolicy", "Policy", "PolicyMethods", "PolicyVersion", "policy_files"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class AppliedPolicy:
    """What applying one policy file did: ``created``, ``updated`` or ``unchanged``."""

    name: str
    version: int
    status: str
    filename: str
    sha256: str

    @classmethod
    def from_json(cls, data: object) -> AppliedPolicy:
        """Build from the server's JSON."""
        read = JSONObject(data, "an applied policy")
        return cls(
            name=read.text("name"),
            version=read.integer("version"),
            status=read.text("status"),
            filename=read.text("filename"),
            sha256=read.text("sha256"),
        )


@dataclass(frozen=True)
class PolicyVersion:
    """One applied version of a policy: the YAML text and the validated document."""

    name: str
    version: int
    sha256: str
    filename: str
    source: str
    document: FreeForm
    created_by: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: object) -> PolicyVersion:
        """Build from the server's JSON."""
        read = JSONObject(data, "a policy version")
        return cls(
            name=read.text("name"),
            version=read.integer("version"),
            sha256=read.text("sha256"),
            filename=read.text("filename"),
            source=read.text("source"),
            document=read.free_form("document"),
            created_by=read.text_or_empty("created_by"),
            created_at=read.moment("created_at"),
        )


@dataclass(frozen=True)
class Policy:
    """A policy and the version in force."""

    name: str
    description: str
    current_version: int
    current: PolicyVersion

    @classmethod
    def from_json(cls, data: object) -> Policy:
        """Build from the server's JSON."""
        read = JSONObject(data, "a policy")
        return cls(
            name=read.text("name"),
            description=read.text_or_empty("description"),
            current_version=read.integer("current_version"),
            current=PolicyVersion.from_json(read.nested("current")),
        )


def policy_files(paths: PathLike | Sequence[PathLike]) -> list[dict[str, str]]:
    """The ``*.yaml`` / ``*.yml`` files of a directory (or the files named) as upload items."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            files.extend(sorted([*item.glob("*.yaml"), *item.glob("*.yml")]))
        else:
            files.append(item)
    if not files:
        raise ValueError(f"no policy files (*.yaml, *.yml) in {', '.join(map(str, items))}")
    return [{"filename": f.name, "content": f.read_text(encoding="utf-8")} for f in files]


class PolicyMethods(ServerCalls):
    """Applying and reading policies (mixed into Client)."""

    def apply_policies(self, paths: PathLike | Sequence[PathLike]) -> list[AppliedPolicy]:
        """Apply policy files (admin): a directory's YAML files, or the files named.

        A new or changed policy becomes a new version; nothing is stored if any file is
        wrong (ValidationError, whose ``details["errors"]`` names file, rule and field).
        """
        body = self._transport.json("POST", "/policies", json={"files": policy_files(paths)})
        applied = JSONObject(body, "the applied policies").nested_list("applied")
        return [AppliedPolicy.from_json(each) for each in applied]

    def list_policies(self) -> list[Policy]:
        """The policies in force, by name."""
        answer = self._transport.json("GET", "/policies")
        return [Policy.from_json(each) for each in json_objects(answer, "policies")]

    def policy_versions(self, name: str) -> list[PolicyVersion]:
        """Every version of a policy, oldest first."""
        answer = self._transport.json("GET", policy_path(name) + "/versions")
        return [PolicyVersion.from_json(v) for v in json_objects(answer, "policy versions")]
