"""Policies: each one's YAML, its versions with diffs, and the requests it judged."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from flask import render_template, request
from markupsafe import Markup

from ..access import browser_page, requires
from ..errors import NotFound
from ..governance.models import PolicyVersion
from ..governance.policy_queries import requests_judged_by
from ..governance.service import PolicyService
from ..request_scope import db_session, service_context
from ..roles import Role
from .blueprint import bp
from .yaml_highlight import highlight, highlight_line

DIFF_CONTEXT = 2


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: ``added``, ``removed``, ``same`` (context) or ``gap`` (lines
    left out between hunks), its numbers in the old and new text, and the line highlighted."""

    kind: str
    old_number: int | None
    new_number: int | None
    text: Markup


def diff_lines(old: str, new: str, context: int = DIFF_CONTEXT) -> list[DiffLine]:
    """The changed lines of ``new`` against ``old`` with ``context`` lines around each change."""
    before, after = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    lines: list[DiffLine] = []
    for index, group in enumerate(matcher.get_grouped_opcodes(context)):
        if index:
            lines.append(DiffLine("gap", None, None, Markup("…")))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(
                    DiffLine("same", i + 1, j + 1, highlight_line(before[i]))
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                )
                continue
            lines.extend(
                DiffLine("removed", i + 1, None, highlight_line(before[i])) for i in range(i1, i2)
            )
            lines.extend(
                DiffLine("added", None, j + 1, highlight_line(after[j])) for j in range(j1, j2)
            )
    return lines


@bp.get("/policies")
@requires(Role.VIEWER)
@browser_page
def policies_page() -> str:
    """Every policy with the version in force and where it applies."""
    policies = PolicyService(db_session(), service_context()).list()
    return render_template("policies.html", policies=policies)


def _chosen(versions: list[PolicyVersion], current: int) -> PolicyVersion:
    """The version the query string names (``?version=N``), else the one in force."""
    wanted = request.args.get("version") or str(current)
    chosen = next((v for v in versions if str(v.version) == wanted), None)
    if chosen is None:
        raise NotFound(f"This policy has no version {wanted[:20]!r}.")
    return chosen


@bp.get("/policies/<policy_name>")
@requires(Role.VIEWER)
@browser_page
def policy_page(policy_name: str) -> str:
    """A policy: one version's YAML highlighted, its diff against the version before, every
    version, and the promotion requests the policy judged."""
    session = db_session()
    policy = PolicyService(session, service_context()).get(policy_name)
    versions = list(policy.versions)
    shown = _chosen(versions, policy.current_version)
    previous = next((v for v in versions if v.version == shown.version - 1), None)
    return render_template(
        "policy.html",
        policy=policy,
        versions=list(reversed(versions)),
        shown=shown,
        previous=previous,
        source=highlight(shown.source),
        diff=diff_lines(previous.source, shown.source) if previous else [],
        judged=requests_judged_by(session, policy.name),
    )
