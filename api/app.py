"""The FastAPI application: `create_app(settings)`; resources live in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from pyexec.api.auth import AuthenticationMiddleware, scope_rules
from pyexec.api.dashboard import install_dashboard
from pyexec.api.errors import install_error_handlers
from pyexec.api.holds import OpenHolds
from pyexec.api.http_metrics import HttpMetricsMiddleware
from pyexec.api.middleware import BodyLimitMiddleware, JsonBodyMiddleware, RequestContextMiddleware
from pyexec.api.observability import ObservabilityMiddleware
from pyexec.api.routes import (
    account,
    api_keys,
    events,
    files,
    job_files,
    jobs,
    service,
    webhooks,
)
from pyexec.core.migrate import SchemaOutOfDate, check_schema
from pyexec.core.runtime import Runtime
from pyexec.core.settings import Settings

log = logging.getLogger("pyexec.api")

# An upload untouched this long at start-up was cut off by a crash (a live one is written to
# every few hundred KB); younger ones may belong to another API process of the deployment.
STALE_UPLOAD_SECONDS = 3600.0

# Something composed into the process beside the API (the in-process worker and kernel pool
# of the embedded deployment): entered after the runtime exists, exited before it closes.
Component = Callable[[Runtime], AbstractAsyncContextManager[Any]]


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    components: tuple[Component, ...] = (),
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.from_settings(settings)
        app.state.runtime = rt
        async with AsyncExitStack() as stack:
            stack.push_async_callback(rt.close)
            try:
                await check_schema(rt.db.engine)
            except SchemaOutOfDate as exc:
                log.error("refusing to start: %s", exc)
                raise
            if swept := await rt.storage.sweep_incoming(STALE_UPLOAD_SECONDS):
                log.warning("deleted %d half-written upload(s) left by a crash", swept)
            for component in components:
                await stack.enter_async_context(component(rt))
            # On SIGTERM (core.drain), `?wait=` requests and event streams get the grace.
            rt.drain.on_drain("open requests", lambda: app.state.holds.drain(rt.drain))
            yield

    app = FastAPI(
        title="PyExec",
        version="0.1.0",
        description="Run data-analysis jobs in fresh, pooled Jupyter kernels. "
        "Every /v1 request carries `Authorization: Bearer <key>`.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware)  # inside authentication: 401/403 come first
    app.add_middleware(AuthenticationMiddleware)
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(HttpMetricsMiddleware)  # counts even a crash's 500
    app.add_middleware(ObservabilityMiddleware)  # outermost: log context and trace span
    install_error_handlers(app)
    routers = (
        service.router,
        account.router,
        jobs.router,
        events.router,
        job_files.router,
        files.router,
        api_keys.router,
        webhooks.router,
    )
    for router in routers:
        app.include_router(router)
    # Read by the middleware and error handlers, which act before or beside FastAPI's routing.
    routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
    app.state.api_routes = routes
    app.state.scope_rules = scope_rules(routes)
    app.state.holds = OpenHolds()
    # The web dashboard at / (pages for people; sessions never authenticate /v1).
    install_dashboard(app)
    _document_errors_as_400(app)
    return app


def _document_errors_as_400(app: FastAPI) -> None:
    """Validation errors are 400 in the error model: say so in the schema instead of 422."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for route, path in schema.get("paths", {}).items():
            for operation in path.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None and "400" not in responses:
                    responses["400"] = {
                        "description": "Invalid request",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorBody"}
                            }
                        },
                    }
                if route.startswith("/v1/"):
                    # Authentication and the daily quota sit in front of every /v1 operation.
                    responses.setdefault("401", _error("Missing, invalid or revoked API key"))
                    responses.setdefault(
                        "429", _error("Daily request limit reached; see Retry-After")
                    )
        schemas = schema.get("components", {}).get("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
