"""A model version's page: lineage, the aliases naming it, its retraining chain, schema,
reference data, policy evaluation, promotions, explanations; and its compliance report for
the browser.

The explanation form POSTs one row to the same runner the API uses (a worker process loads
the model, never this one), then shows the stored answer by its id (post, redirect, get).
Approving and rejecting a promotion are ``approval_pages``' actions, shared with the inbox.
"""

from __future__ import annotations

import hashlib
import math
import re
from base64 import b64encode
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..context import ServiceContext
from ..errors import AssayError, NotFound, ValidationFailed
from ..explain.models import Explanation, ExplanationStatus
from ..explain.routes import explanation_runner
from ..explain.schemas import ExplainRequestSchema
from ..explain.service import ExplanationService
from ..governance.evaluation import evaluate_version
from ..governance.governed_aliases import governed_aliases_of
from ..governance.models import PromotionRequest
from ..governance.promotions import TARGET_STAGES, PromotionService
from ..governance.report import compliance_bundle
from ..governance.report_chain import RetrainingChain, retraining_chain
from ..governance.report_page import render_html
from ..governance.verdicts import Evaluation
from ..registry.models import ModelVersion
from ..registry.profiles import load_profile
from ..registry.service import RegistryService
from ..request_scope import current_actor, database, db_session, service_context
from ..roles import Role
from . import charts
from .alias_pages import aliases_naming
from .blueprint import bp, error_message
from .protection import PAGE_POLICY
from .version_charts import FeatureSummary, reference_summary, typical_row, weights_figure

PROMOTIONS_SHOWN = 50


@dataclass(frozen=True)
class ExplainedRow:
    """The first row of a finished local explanation, as the page shows it."""

    id: int
    prediction: dict[str, Any]
    explained_label: object
    intercept: float
    score: float
    weights: list[dict[str, Any]]
    figure: charts.Figure
    cached: bool


@dataclass(frozen=True)
class VersionView:
    """Everything the version page shows."""

    row: ModelVersion
    features: list[dict[str, Any]]
    reference: list[FeatureSummary]
    stage: str | None
    alias: str | None
    governed: list[str]
    evaluation: Evaluation
    promotions: list[PromotionRequest]
    typical: dict[str, str]
    explained: ExplainedRow | None
    aliases: list[str]
    chain: RetrainingChain

    @property
    def target(self) -> str:
        """What the version is judged for, in words: ``production``, ``alias champion``."""
        return f"alias {self.alias}" if self.alias is not None else str(self.stage)


def _evaluated_alias(governed: list[str]) -> str | None:
    """The governed alias the page judges the version for (``?alias=``), if one is asked."""
    alias = request.args.get("alias")
    if alias is None:
        return None
    if alias not in governed:
        choices = ", ".join(governed) or "none for this model"
        raise ValidationFailed(
            f"No policy in force governs alias {alias!r} of this model ({choices}).",
            details={"alias": [f"A governed alias: {choices}."]},
        )
    return alias


def _evaluated_stage(row: ModelVersion) -> str:
    """The stage the page judges the version for: ``?stage=``, else the next one up."""
    stage = request.args.get("stage") or (
        "production" if row.stage in ("staging", "production") else "staging"
    )
    if stage not in TARGET_STAGES:
        raise ValidationFailed(
            f"Unknown stage {stage!r}; choose one of {', '.join(TARGET_STAGES)}.",
            details={"stage": [f"One of {', '.join(TARGET_STAGES)}."]},
        )
    return stage


def _explained(session: Session, ctx: ServiceContext, row: ModelVersion) -> ExplainedRow | None:
    """The explanation ``?explanation=`` names, if it is a finished one of this version."""
    wanted = request.args.get("explanation", "")
    if not wanted:
        return None
    if not wanted.isdigit():
        raise ValidationFailed("", details={"explanation": ["An explanation's number."]})
    record = ExplanationService(session, ctx).get(int(wanted))
    if record.version_id != row.id or record.kind != "local":
        raise NotFound(f"Version {row.version} of {row.model.name!r} has no explanation {wanted}.")
    if record.status != ExplanationStatus.DONE or not record.result:
        return None
    first = record.result["explanations"][0]
    return ExplainedRow(
        id=record.id,
        prediction=dict(first.get("prediction") or {}),
        explained_label=first.get("explained_label"),
        intercept=float(first.get("intercept", math.nan)),
        score=float(first.get("score", math.nan)),
        weights=list(first["weights"]),
        figure=weights_figure(first["weights"]),
        cached=bool(record.cached),
    )


def version_view(session: Session, ctx: ServiceContext, name: str, version: int) -> VersionView:
    """Gather the page: the version, its profile's summary, the policies' judgement now, its
    promotion requests and the explanation asked for."""
    row = RegistryService(session, ctx).get_version(name, version)
    features = list(row.feature_schema.get("features") or [])
    reference = reference_summary(load_profile(row, ctx.settings), features)
    governed = governed_aliases_of(session, ctx, row.model)
    alias = _evaluated_alias(governed)
    stage = None if alias is not None else _evaluated_stage(row)
    promotions = PromotionService(session, ctx).list(
        model=name, version=version, limit=PROMOTIONS_SHOWN
    )
    return VersionView(
        row=row,
        features=features,
        reference=reference,
        stage=stage,
        alias=alias,
        governed=governed,
        evaluation=evaluate_version(session, ctx, row, stage, alias=alias),
        promotions=promotions.items,
        typical=typical_row(features, reference),
        explained=_explained(session, ctx, row),
        aliases=aliases_naming(session, ctx, name, version),
        chain=retraining_chain(session, row),
    )


@bp.get("/models/<name>/versions/<int:version>")
@requires(Role.VIEWER)
@browser_page
def version_page(name: str, version: int) -> str:
    """A version: its evidence, the policies' verdict, its promotions, explanations."""
    view = version_view(db_session(), service_context(), name, version)
    role = current_actor().role
    return render_template(
        "version.html",
        view=view,
        row=view.row,
        model=view.row.model,
        stages=TARGET_STAGES,
        can_decide=role.allows(Role.APPROVER),
        can_explain=role.allows(Role.CONTRIBUTOR),
        here=request.full_path,
    )


def _form_row(features: list[dict[str, Any]]) -> dict[str, object]:
    """The row the form sent: a number for each numerical feature, text for the others."""
    row: dict[str, object] = {}
    problems: dict[str, list[str]] = {}
    for feature in features:
        name, kind = str(feature["name"]), feature.get("kind")
        text = request.form.get(f"feature-{name}", "").strip()
        if kind == "numerical":
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                problems[name] = ["Enter a number."]
                continue
            row[name] = int(number) if number.is_integer() and "." not in text else number
        elif not text:
            problems[name] = ["Enter a category."]
        else:
            row[name] = text
    if problems:
        raise ValidationFailed("", details=problems)
    return row


def _explain(name: str, version: int) -> Explanation:
    """Explain the form's row through the API's runner; the explanation as recorded."""
    # The runner works in units of work of its own, with the model in a worker meanwhile: the
    # features are read in one of their own too, so that this request holds no transaction
    # (on SQLite, its write lock would hold the runner's record back).
    with database().unit_of_work(write=False) as session:
        row = RegistryService(session, service_context()).get_version(name, version)
        features = list(row.feature_schema.get("features") or [])
    try:
        args = ExplainRequestSchema().load({"rows": [_form_row(features)]})
    except ValidationError as exc:
        raise ValidationFailed("", details=exc.normalized_messages()) from exc
    return explanation_runner().explain(name, version, args)


@bp.post("/models/<name>/versions/<int:version>/explain")
@requires(Role.CONTRIBUTOR)
@browser_page
def explain_prediction(name: str, version: int) -> Response:
    """Explain one row with LIME (audited like the API's), then show the weights."""
    try:
        explanation = _explain(name, version)
    except AssayError as exc:
        flash(f"Could not explain the prediction: {error_message(exc)}", "error")
        return redirect(url_for("web.version_page", name=name, version=version, _anchor="explain"))
    if explanation.status != ExplanationStatus.DONE:
        flash(f"Explanation {explanation.id} is {explanation.status}; reload in a moment.", "ok")
    target = url_for(
        "web.version_page",
        name=name,
        version=version,
        explanation=explanation.id,
        _anchor="explain",
    )
    return redirect(target)


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


@bp.get("/models/<name>/versions/<int:version>/compliance-report")
@requires(Role.VIEWER)
@browser_page
def compliance_report_page(name: str, version: int) -> Response:
    """The version's printable compliance report (the API's page, for a signed-in browser)."""
    html = render_html(compliance_bundle(db_session(), service_context(), name, version))
    response = Response(html, mimetype="text/html")
    # The report carries one fixed <style> element in its head (values in the body are all
    # escaped): allow exactly that one by its hash, nothing else inline.
    policy = dict(PAGE_POLICY)
    match = _STYLE.search(html)
    if match:
        digest = b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
        policy["style-src"] = f"'self' 'sha256-{digest}'"
    response.headers["Content-Security-Policy"] = "; ".join(f"{k} {v}" for k, v in policy.items())
    return response
