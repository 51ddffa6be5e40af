"""OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

One job is one trace: the HTTP request that created it, its wait in the queue, its run, each
cell and each model call. The trace context (W3C `traceparent`) travels with the queued job
(see `core.job_context`), so the worker's spans join the API's trace across Redis.

The API is tiny: `span(name, **attributes)` is a context manager (a no-op while tracing is
off), `inject()` gives the current context as W3C headers, `continued(...)` resumes one.
OpenTelemetry is imported only once tracing is configured: starting the service and importing
its modules stay as fast as without it. The exporter reads the standard `OTEL_EXPORTER_OTLP_*`
variables (headers, certificates, timeout) itself.
"""

from __future__ import annotations

import atexit
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

AttributeValue = str | bool | int | float
INSTRUMENTATION_NAME = "pyexec"

_tracer: Tracer | None = None


def enabled() -> bool:
    return _tracer is not None


def configure(endpoint: str | None, service_name: str) -> None:
    """Export spans over OTLP/HTTP when `endpoint` is set (`OTEL_EXPORTER_OTLP_ENDPOINT`)."""
    if not endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    # The exporter appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT, as the spec says.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    atexit.register(provider.shutdown)  # the last spans are sent before the process exits


def install(provider: TracerProvider | None) -> None:
    """Trace with `provider` from now on (None: stop). Tests install one with an in-memory
    exporter; the process never touches OpenTelemetry's global provider."""
    global _tracer
    _tracer = provider.get_tracer(INSTRUMENTATION_NAME) if provider is not None else None


@contextmanager
def span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, **attrs: AttributeValue
) -> Iterator[Span | None]:
    """A span around the block, current inside it (None, and nothing done, while off); an
    exception leaving the block is recorded on it and marks it as an error."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes={**(attributes or {}), **attrs}) as s:
        yield s


def inject() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, maybe `tracestate`); empty
    while tracing is off or outside any span."""
    if _tracer is None:
        return {}
    from opentelemetry.propagate import inject as otel_inject

    carrier: dict[str, str] = {}
    otel_inject(carrier)
    return carrier


@contextmanager
def continued(
    carrier: Mapping[str, str],
    wait_name: str,
    waited_since_ns: int | None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[None]:
    """Resume the trace of `carrier` for the block, after a span `wait_name` that covers the
    time since `waited_since_ns` (wall clock, ns): the block's spans are its children."""
    if _tracer is None or not carrier:
        yield
        return
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    parent = extract(dict(carrier))
    now = time.time_ns()
    waited = _tracer.start_span(
        wait_name,
        context=parent,
        attributes=dict(attributes or {}),
        start_time=min(waited_since_ns or now, now),
    )
    waited.end(end_time=now)
    token = otel_context.attach(trace.set_span_in_context(waited, parent))
    try:
        yield
    finally:
        otel_context.detach(token)


def set_attributes(current: Any, **attrs: AttributeValue) -> None:
    """Set attributes on a span from `span()` (a no-op for its None while off)."""
    if current is not None:
        current.set_attributes(attrs)
