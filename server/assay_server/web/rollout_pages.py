"""A model's rollout page: the plan, the step it is at and that step's gate judged now, the
split, the history; and the Halt / Resume / Roll back actions approvers take from it.

Each action goes through governance's rollout service, as the API's does (audited, published
to the channels subscribed to ``rollout.*``); a refusal is flashed on the page.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..errors import AssayError, NotFound, ValidationFailed
from ..governance.rollouts import RolloutService
from ..governance.rollouts_models import Rollout
from ..governance.rollouts_schemas import RolloutReasonSchema
from ..request_scope import current_actor, db_session, service_context
from ..roles import Role
from .blueprint import bp, error_message, safe_next


def _service() -> RolloutService:
    return RolloutService(db_session(), service_context())


@bp.get("/models/<name>/rollout")
@requires(Role.VIEWER)
@browser_page
def rollout_page(name: str) -> str:
    """The model's open rollout (else its latest) with its gate, split and history."""
    service = _service()
    try:
        rollout: Rollout | None = service.current(name)
    except NotFound:
        service.registry.get_model(name)  # an unknown model is still a 404
        rollout = None
    return render_template(
        "rollout.html",
        name=name,
        rollout=rollout,
        gate=service.gate(rollout.id) if rollout else None,
        split=service.split(name),
        earlier=[r for r in service.list(name) if rollout is None or r.id != rollout.id],
        can_steer=current_actor().role.allows(Role.APPROVER),
    )


def _steer(rollout_id: int, act: Callable[[RolloutService, str], Rollout], done: str) -> Response:
    """Take an action with the form's reason, flash how it went, and go back to the rollout's
    page (to ``next`` when the rollout is not found)."""
    service = _service()
    back = safe_next(request.form.get("next"), "web.index")
    try:
        back = url_for("web.rollout_page", name=service.get(rollout_id).model.name)
        try:
            loaded = RolloutReasonSchema().load({"reason": request.form.get("reason", "")})
        except ValidationError as exc:
            raise ValidationFailed("", details=exc.normalized_messages()) from exc
        act(service, str(loaded["reason"]))
    except AssayError as exc:
        db_session().rollback()
        flash(error_message(exc), "error")
    else:
        flash(f"Rollout {rollout_id} {done}.", "ok")
    return redirect(back)


@bp.post("/rollouts/<int:rollout_id>/halt")
@requires(Role.APPROVER)
@browser_page
def halt_rollout_page(rollout_id: int) -> Response:
    """Halt a running rollout (rolled back too when its plan says so)."""
    return _steer(rollout_id, lambda s, why: s.halt(rollout_id, reason=why), "halted")


@bp.post("/rollouts/<int:rollout_id>/resume")
@requires(Role.APPROVER)
@browser_page
def resume_rollout_page(rollout_id: int) -> Response:
    """Resume a halted rollout."""
    return _steer(rollout_id, lambda s, why: s.resume(rollout_id, reason=why), "resumed")


@bp.post("/rollouts/<int:rollout_id>/rollback")
@requires(Role.APPROVER)
@browser_page
def rollback_rollout_page(rollout_id: int) -> Response:
    """Roll a rollout back: the production version gets all the traffic again."""
    return _steer(rollout_id, lambda s, why: s.rollback(rollout_id, reason=why), "rolled back")
