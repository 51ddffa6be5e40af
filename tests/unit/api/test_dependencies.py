"""No request of the API hops to a thread for its dependencies: FastAPI runs a plain-function
dependency (or endpoint) in its thread pool, a thread hop and back on every request."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from pyexec.api.app import create_app
from pyexec.core.settings import load_settings


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            # fastapi includes a router lazily: its routes are the original router's.
            yield from _api_routes(included.routes)
            context = route.include_context
            assert not context.dependencies, "dependencies of an include: check them too"


def _calls(dependant: Dependant) -> Iterator[object]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _runs_on_the_loop(call: object) -> bool:
    # What FastAPI awaits itself: coroutine functions and async generators, or a callable
    # object whose __call__ is one (HTTPBearer).
    target = call if inspect.isfunction(call) else getattr(call, "__call__", call)  # noqa: B004
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def test_every_route_and_dependency_runs_on_the_event_loop(tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path))
    routes = list(_api_routes(app.router.routes))
    assert len(routes) > 20  # the app's whole API, not an empty router
    offenders = {
        f"{route.path}: {getattr(call, '__qualname__', call)}"
        for route in routes
        for call in _calls(route.dependant)
        if not _runs_on_the_loop(call)
    }
    assert offenders == set()
