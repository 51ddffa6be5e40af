"""The SDK held against the running server's /openapi.json, so that neither drifts silently:
every /v1 operation has its SDK methods (on both clients), every parameter a way to pass it,
and every field of the job, output, file, key and account schemas a place in the SDK's models."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import httpx
import pytest

from pyexec_client import (
    Account,
    AccountUsage,
    ApiKey,
    ApiKeyCreated,
    APIStatusError,
    Artifact,
    AsyncPyExec,
    FileObject,
    JobData,
    PlanLimits,
    PyExec,
    Usage,
    WebhookSecret,
)
from pyexec_client._endpoints import ENDPOINTS
from pyexec_client.models import _OUTPUTS
from tests.support.servers import Server

# Where the SDK takes a parameter under another name than the API's.
RENAMED = {
    ("POST", "/v1/jobs", "file_ids"): "files",
    ("POST", "/v1/jobs", "parent_job_id"): "parent",
    ("GET", "/v1/jobs/{job_id}/events", "Last-Event-ID"): "last_event_id",
}
# Parameters the SDK sets itself rather than take from its caller.
SET_BY_THE_SDK = {("POST", "/v1/files", "file"), ("GET", "/v1/jobs/{job_id}", "wait")}
MODELS: dict[str, type[Any]] = {
    "JobOut": JobData,
    "FileOut": FileObject,
    "ApiKeyOut": ApiKey,
    "ApiKeyCreated": ApiKeyCreated,
    "Artifact": Artifact,
    "Usage": Usage,
    "AccountOut": Account,
    "PlanLimitsOut": PlanLimits,
    "AccountUsage": AccountUsage,
    "WebhookSecretOut": WebhookSecret,
}


@pytest.fixture(scope="module")
def openapi(server: Server) -> dict[str, Any]:
    return httpx.get(f"{server.url}/openapi.json", timeout=30).json()


pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


def operations(openapi: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in openapi["paths"].items()
        if path.startswith("/v1/")
        for method, op in item.items()
    }


@pytest.fixture(scope="module")
def clients(server: Server) -> dict[str, Any]:
    # Never used to send anything: their methods are what is looked at.
    return {
        "blocking": PyExec(api_key="pyex_unused", base_url=server.url),
        "async": AsyncPyExec(api_key="pyex_unused", base_url=server.url),
    }


def sdk_method(client: PyExec | AsyncPyExec, dotted: str) -> Any:
    resource, method = dotted.split(".")
    return getattr(getattr(client, resource), method, None)


def test_every_v1_operation_has_its_sdk_methods(
    openapi: dict[str, Any], clients: dict[str, Any]
) -> None:
    served = set(operations(openapi))
    known = {(e.method, e.template) for e in ENDPOINTS}
    assert served - known == set(), "operations the SDK does not know"
    assert known - served == set(), "SDK endpoints the server does not serve"
    for endpoint in ENDPOINTS:
        for dotted in endpoint.sdk:
            blocking = sdk_method(clients["blocking"], dotted)
            asynchronous = sdk_method(clients["async"], dotted)
            assert callable(blocking) and callable(asynchronous), dotted
            if inspect.iscoroutinefunction(blocking):
                raise AssertionError(f"PyExec {dotted} is a coroutine")
            returns_iterator = "Iterator" in str(inspect.signature(asynchronous).return_annotation)
            assert inspect.iscoroutinefunction(asynchronous) or returns_iterator, dotted


def test_every_parameter_can_be_passed(openapi: dict[str, Any], clients: dict[str, Any]) -> None:
    for (method, path), op in operations(openapi).items():
        endpoint = next(e for e in ENDPOINTS if (e.method, e.template) == (method, path))
        names = [p["name"] for p in op.get("parameters", []) if p["in"] in ("query", "header")]
        body = op.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            names += list(openapi["components"]["schemas"][ref]["properties"])
        if "multipart/form-data" in body:
            names += list(body["multipart/form-data"]["schema"]["properties"])
        accepted = set()
        for dotted in endpoint.sdk:
            for client in clients.values():
                accepted |= set(inspect.signature(sdk_method(client, dotted)).parameters)
        for name in names:
            if (method, path, name) in SET_BY_THE_SDK or name == "Idempotency-Key":
                continue
            wanted = RENAMED.get((method, path, name), name)
            assert wanted in accepted, f"{method} {path}: no way to pass {name!r}"
    # The SDK's own: a submission's idempotency key may also be the caller's.
    create = sdk_method(clients["blocking"], "jobs.create")
    assert "idempotency_key" in inspect.signature(create).parameters


def test_every_schema_field_is_in_the_models(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for schema, model in MODELS.items():
        fields = {f.name for f in dataclasses.fields(model)}
        missing = set(schemas[schema]["properties"]) - fields
        assert missing == set(), f"{schema} fields missing from {model.__name__}: {missing}"
    outputs = schemas["JobOut"]["properties"]["outputs"]["items"]["anyOf"][0]
    mapping = outputs["discriminator"]["mapping"]
    assert set(mapping) == set(_OUTPUTS), "output types"
    for kind, ref in mapping.items():
        schema = schemas[ref.rsplit("/", 1)[1]]
        fields = {f.name for f in dataclasses.fields(_OUTPUTS[kind])}
        assert set(schema["properties"]) - fields == set(), kind
    # The error body's fields, as the exceptions carry them.
    assert set(schemas["ErrorInfo"]["properties"]) == {"code", "message", "status", "details"}
    init = inspect.signature(APIStatusError.__init__).parameters
    assert {"code", "details"} <= set(init) and "status_code" in vars(APIStatusError)
