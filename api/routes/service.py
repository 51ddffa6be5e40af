"""Service endpoints: no authentication, not rate limited."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from pyexec.api.deps import RuntimeDep
from pyexec.api.errors import NotFound, Unauthorized
from pyexec.core import metrics as prometheus
from pyexec.core.drain import DRAINING

router = APIRouter(tags=["service"])

READINESS_TIMEOUT_SECONDS = 2.0


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Database, queue and kernel pool are ready",
    description="`status` and `checks` always; a failing check's reason under its own name "
    "(e.g. `kernel_pool`: failed starts in a row and the last start error); `reason`: "
    "`draining` while the process stops (SIGTERM) and lets running work finish; how kernels are "
    "isolated (`isolation`) only when the operator sets PYEXEC_READYZ_DETAILS.",
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks = {"database": runtime.db.ping, "queue": runtime.queue.ready, **runtime.readiness}
    names = list(checks)
    results = await asyncio.gather(
        *(asyncio.wait_for(checks[n](), READINESS_TIMEOUT_SECONDS) for n in names),
        return_exceptions=True,
    )
    report = {n: (r is True) for n, r in zip(names, results, strict=True)}
    draining = runtime.drain.started
    ready = all(report.values()) and not draining
    body: dict[str, object] = {"status": "ready" if ready else "not_ready", "checks": report}
    if draining:
        # Stopping (SIGTERM): take no new traffic here; what it holds is answered meanwhile.
        body["reason"] = DRAINING
    for name, ok in report.items():
        if not ok and name in runtime.diagnoses:
            body[name] = runtime.diagnoses[name]()
    if runtime.settings.readyz_details:
        # Uid ranges and limits help an attacker plan: public only where the operator says.
        body.update({name: detail() for name, detail in runtime.details.items()})
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="This process's metrics in the Prometheus text format (docs/operations.md "
    "lists them). 404 when the operator turned them off (PYEXEC_METRICS_ENABLED=off); with "
    "PYEXEC_METRICS_TOKEN set, only for `Authorization: Bearer <that token>` (else 401).",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "The exposition"}},
)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    settings = runtime.settings
    if not settings.metrics_enabled:
        raise NotFound("Metrics are turned off on this server (PYEXEC_METRICS_ENABLED).")
    if not prometheus.authorized(settings.metrics_token, request.headers.get("authorization")):
        raise Unauthorized("/metrics needs `Authorization: Bearer <PYEXEC_METRICS_TOKEN>`.")
    body, content_type = await prometheus.exposition(runtime.queue)
    return Response(body, media_type=content_type)
