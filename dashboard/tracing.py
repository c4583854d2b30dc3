"""OpenTelemetry traces, optional (OTEL_TRACES_ENABLED=1 and the `otel` extra installed).

One span per client request (kind SERVER) with a child span per upstream attempt (kind CLIENT),
exported in batches with OTLP over HTTP; the exporter reads the standard variables
(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS,
OTEL_SERVICE_NAME, OTEL_BSP_SCHEDULE_DELAY...). Spans are made from gateway.records' request
records when the request ends, so the request path pays nothing while it runs: the request
span's start is its end minus its latency, and the attempts, which run one after the other, are
laid end to end from the request's start by their own latencies. Attributes follow the
OpenTelemetry GenAI conventions (gen_ai.*); no prompt, answer or credential is put on a span.
Refusals (rate limits, 401s) make no span: a flood of them would flood the collector; they are
counted in Prometheus (gateway_refusals).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger("gateway.tracing")
SERVICE_NAME = "claude-gateway"


def _attributes(fields: dict[str, Any], client_name: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": fields.get("requested_model", ""),
        "gen_ai.response.model": fields.get("upstream_model", ""),
        "gen_ai.provider.name": fields.get("provider", ""),
        "gen_ai.usage.input_tokens": int(fields.get("input_tokens") or 0),
        "gen_ai.usage.output_tokens": int(fields.get("output_tokens") or 0),
        "http.response.status_code": int(fields.get("status") or 0),
        "gateway.endpoint": fields.get("endpoint", ""),
        "gateway.client_key": client_name,
        "gateway.stream": bool(fields.get("stream")),
        "gateway.attempts": len(fields.get("attempts") or ()),
    }
    if fields.get("stop_reason"):
        attrs["gen_ai.response.finish_reasons"] = [fields["stop_reason"]]
    if fields.get("cached_tokens"):
        attrs["gen_ai.usage.cache_read.input_tokens"] = int(fields["cached_tokens"])
    if fields.get("ttft_ms") is not None:
        attrs["gateway.ttft_ms"] = float(fields["ttft_ms"])
    return attrs


class TraceSink:
    """gateway.records' sink that turns request records into spans (see the module's text)."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import trace

        self.tracer = tracer
        self.trace = trace

    def request(self, *, client_name: str, fields: dict[str, Any]) -> None:
        trace = self.trace
        end = time.time_ns()
        start = end - int(float(fields.get("latency_ms") or 0) * 1e6)
        status = int(fields.get("status") or 0)
        span = self.tracer.start_span(f"{fields.get('endpoint', 'messages')} {fields.get('requested_model', '')}",
                                      kind=trace.SpanKind.SERVER, start_time=start,
                                      attributes=_attributes(fields, client_name))
        context = trace.set_span_in_context(span)
        at = start
        for attempt in fields.get("attempts") or ():
            at = self._attempt(attempt, context, at)
        if status >= 500 or status == 0:
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(fields.get("error", ""))[:200]))
        span.end(end_time=end)

    def _attempt(self, attempt: dict[str, Any], context: Any, at: int) -> int:
        trace = self.trace
        took = int(float(attempt.get("latency_ms") or 0) * 1e6)
        status = int(attempt.get("status") or 0)
        child = self.tracer.start_span(
            f"upstream {attempt.get('provider', '')}", context=context, kind=trace.SpanKind.CLIENT, start_time=at,
            attributes={"gen_ai.provider.name": attempt.get("provider", ""),
                        "gen_ai.request.model": attempt.get("upstream_model", ""),
                        "http.response.status_code": status, "gateway.attempt": int(attempt.get("number") or 0)})
        if status == 0 or status >= 400:
            child.set_status(trace.Status(trace.StatusCode.ERROR, str(attempt.get("error", ""))[:200]))
        child.end(end_time=at + took)
        return at + took

    def refusal(self, *, key_id: int | None, client_name: str, status: int, reason: str, endpoint: str) -> None:
        return None

    def fallback(self, *, fields: dict[str, Any]) -> None:
        return None  # the request's span has the attempt that failed as a child


def tracing_sink() -> TraceSink | None:
    """The OTLP-exporting sink, or None when tracing is off or its packages are missing."""
    if not settings.OTEL_TRACES_ENABLED:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning("OTEL_TRACES_ENABLED is set but OpenTelemetry is not installed: "
                       "pip install 'claude-gateway[otel]' (no traces are exported)")
        return None
    defaults = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(defaults))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return TraceSink(provider.get_tracer("claude-gateway"))
