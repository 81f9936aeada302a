"""Explanation endpoints: explain rows, poll jobs, global explanations, loading decisions."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ..access import requires
from ..request_scope import background_context, database, db_session, service_context
from ..roles import Actor, Role
from .jobs import ExplanationJobs
from .models import Explanation, ExplanationStatus
from .permissions import LoadPermissionService, LoadPermissionView
from .runner import ExplanationRunner
from .schemas import (
    ExplainRequest,
    ExplainRequestSchema,
    ExplanationSchema,
    GlobalRequest,
    GlobalRequestSchema,
    LoadPermissionSchema,
    PickleOptInRequest,
    PickleOptInSchema,
    TrustTypesRequest,
    TrustTypesSchema,
)
from .service import ExplanationService
from .workers import PoolLimits, WorkerPool, pool_for

blp = Blueprint(
    "explain",
    __name__,
    url_prefix="/api/v1",
    description="LIME explanations, computed in isolated worker processes",
)

VERSION_URL = "/models/<string:name>/versions/<int:version>"
JOBS_ACTOR = Actor.cli("explanation-jobs")  # each job then acts for whoever asked


def pool_provider(app: Flask) -> Callable[[], WorkerPool]:
    """A callable giving ``app``'s worker pool, started on first call (not at import)."""
    limits = PoolLimits.from_settings(app.extensions["assay_settings"])
    return lambda: pool_for(app.extensions, limits)


def jobs_for(app: Flask) -> ExplanationJobs:
    """``app``'s job runner, created on first use."""
    jobs = app.extensions.get("assay_explain_jobs")
    if jobs is None:
        jobs = ExplanationJobs(database(), background_context(JOBS_ACTOR), pool_provider(app))
        jobs = app.extensions.setdefault("assay_explain_jobs", jobs)
    return jobs


def shutdown(app: Flask) -> None:
    """Stop ``app``'s job runner and worker pool, if they were started."""
    jobs = app.extensions.pop("assay_explain_jobs", None)
    if jobs is not None:
        jobs.shutdown()
    pool = app.extensions.pop("assay_explain_pool", None)
    if pool is not None:
        pool.shutdown()


def explanation_runner() -> ExplanationRunner:
    """This request's runner: it plans in a unit of work of its own, explains in the app's
    worker pool with no transaction open, then records (the API's routes and the version
    page's form both explain through it)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return ExplanationRunner(
        database(),
        service_context(),
        pool_provider(app),
        submit=lambda explanation_id: jobs_for(app).submit(explanation_id),
    )


def _service() -> ExplanationService:
    return ExplanationService(db_session(), service_context())


def _permissions() -> LoadPermissionService:
    return LoadPermissionService(db_session(), service_context())


@blp.route(VERSION_URL + "/explanations")
class Explanations(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(ExplainRequestSchema)
    @blp.response(200, ExplanationSchema)
    @blp.alt_response(202, schema=ExplanationSchema, description="Queued as a job: poll it")
    def post(
        self, args: ExplainRequest, name: str, version: int
    ) -> Explanation | tuple[Explanation, int]:
        """Explain rows with LIME (more than ASSAY_MAX_SYNC_EXPLAIN_ROWS become a job: 202)"""
        explanation = explanation_runner().explain(name, version, args)
        if explanation.status == ExplanationStatus.QUEUED:
            return explanation, 202
        return explanation


@blp.route("/explanations/<int:explanation_id>")
class ExplanationById(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, ExplanationSchema)
    def get(self, explanation_id: int) -> Explanation:
        """Get an explanation (poll a job until its status is done or failed)"""
        return _service().get(explanation_id)


@blp.route(VERSION_URL + "/global-explanation")
class GlobalExplanation(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, ExplanationSchema)
    def get(self, name: str, version: int) -> Explanation:
        """The newest finished global explanation of a version"""
        return _service().latest_global(name, version)

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(GlobalRequestSchema)
    @blp.response(202, ExplanationSchema)
    def post(self, args: GlobalRequest, name: str, version: int) -> Explanation:
        """Compute a global explanation over a sample of the reference set (a job)"""
        return explanation_runner().request_global(name, version, args)


@blp.route(VERSION_URL + "/trusted-types")
class TrustedTypes(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, LoadPermissionSchema)
    def get(self, name: str, version: int) -> LoadPermissionView:
        """What workers may load for this version"""
        return _permissions().load_permission(name, version)

    @requires(Role.ADMIN)
    @blp.arguments(TrustTypesSchema)
    @blp.response(200, LoadPermissionSchema)
    def post(self, args: TrustTypesRequest, name: str, version: int) -> LoadPermissionView:
        """Trust more types for this version's skops artifact (admin; audited)"""
        return _permissions().trust_types(name, version, args["types"])


@blp.route(VERSION_URL + "/pickle-opt-in")
class PickleOptIn(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(PickleOptInSchema)
    @blp.response(200, LoadPermissionSchema)
    def post(self, args: PickleOptInRequest, name: str, version: int) -> LoadPermissionView:
        """Opt this version's pickle artifact in to loading (needs ASSAY_ALLOW_PICKLE=1 too)"""
        return _permissions().set_pickle_opt_in(name, version, args["allow"])
