"""The approvals inbox: promotion requests waiting for the signed-in approver, and decided ones;
and the Approve / Reject actions the inbox and the version page share.

Each decision goes through governance's own service, as the API's does: separation of duties,
one decision per approver and the re-evaluation before an approval are checked there, audited,
and published to the channels subscribed to ``promotion.*``. A refusal is flashed on the page
it came from; nothing of the refused decision is kept.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, request
from marshmallow import Schema, ValidationError
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..errors import AssayError, ValidationFailed
from ..governance import inbox
from ..governance.decisions import PromotionDecisions, approve_promotion
from ..governance.models import PromotionRequest, PromotionStatus
from ..governance.schemas import DecisionArgsSchema, RejectArgsSchema
from ..request_scope import current_actor, database, db_session, service_context
from ..roles import Role
from .blueprint import bp, error_message, safe_next

HISTORY_PAGE_SIZE = 25


def _page_number() -> int:
    """``?page=`` of the history, from 1."""
    text = request.args.get("page") or "1"
    if not text.isdigit() or int(text) < 1:
        raise ValidationFailed(
            f"Unknown page {text!r}: pages are numbered from 1.",
            details={"page": ["A whole number from 1."]},
        )
    return int(text)


@bp.get("/approvals")
@requires(Role.VIEWER)
@browser_page
def approvals_page() -> str:
    """What waits for the signed-in approver, then the decided requests, newest first."""
    actor = current_actor()
    history = inbox.decided(db_session(), page=_page_number(), limit=HISTORY_PAGE_SIZE)
    return render_template(
        "approvals.html",
        waiting=inbox.waiting_for(db_session(), actor),
        history=history,
        pages=max(1, -(-history.total // history.limit)),
        can_decide=actor.role.allows(Role.APPROVER),
        here=request.full_path,
    )


def _comment(schema: Schema) -> str:
    """The form's comment, validated as the API validates it."""
    try:
        return str(schema.load({"comment": request.form.get("comment", "")})["comment"])
    except ValidationError as exc:
        raise ValidationFailed("", details=exc.normalized_messages()) from exc


def _decide(
    decide: Callable[[], PromotionRequest], done: Callable[[PromotionRequest], str]
) -> Response:
    """Make a decision through governance, flash how it went, and go back where it was made.

    A refused decision is rolled back and its message flashed (the approval's re-evaluation,
    kept in a unit of work of its own, stays: it is what blocked the request).
    """
    try:
        decided = decide()
    except AssayError as exc:
        db_session().rollback()
        flash(error_message(exc), "error")
    else:
        flash(done(decided), "ok")
    return redirect(safe_next(request.form.get("next"), "web.approvals_page"))


def _approved(promotion: PromotionRequest) -> str:
    subject = f"Promotion request {promotion.id}"
    if promotion.status == PromotionStatus.APPROVED.value:
        return f"{subject} approved: {promotion.model.name} v{promotion.version.version} " + (
            f"is now {promotion.alias}."
            if promotion.alias is not None
            else f"is now in {promotion.stage}."
        )
    return (
        f"{subject}: your approval is recorded "
        f"({promotion.approvals} of {promotion.required_approvals})."
    )


@bp.post("/promotions/<int:promotion_id>/approve")
@requires(Role.APPROVER)
@browser_page
def approve_promotion_page(promotion_id: int) -> Response:
    """Approve a promotion request (the API's service: audited, published)."""

    def approve() -> PromotionRequest:
        comment = _comment(DecisionArgsSchema())
        return approve_promotion(database(), db_session(), service_context(), promotion_id, comment)

    return _decide(approve, _approved)


@bp.post("/promotions/<int:promotion_id>/reject")
@requires(Role.APPROVER)
@browser_page
def reject_promotion_page(promotion_id: int) -> Response:
    """Reject a promotion request, saying why (the API's service: audited, published)."""

    def reject() -> PromotionRequest:
        comment = _comment(RejectArgsSchema())
        return PromotionDecisions(db_session(), service_context()).reject(
            promotion_id, comment=comment
        )

    return _decide(reject, lambda promotion: f"Promotion request {promotion.id} rejected.")
