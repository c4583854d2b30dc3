"""OpenTelemetry traces: a span per client request, a child per upstream attempt (dashboard/tracing.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from dashboard.tracing import TraceSink, tracing_sink
from tests.fakes.openai_server import FakeOpenAI
from tests.support import start_gateway

FALLBACK_RECORD = {
    "endpoint": "messages", "requested_model": "claude-sonnet-4-5", "provider": "backup",
    "upstream_model": "gpt-4.1", "stream": True, "status": 200, "latency_ms": 900.0, "ttft_ms": 400.0,
    "input_tokens": 1200, "output_tokens": 80, "cached_tokens": 1000, "stop_reason": "end_turn",
    "error": "", "attempts": [
        {"number": 1, "provider": "primary", "upstream_model": "claude-sonnet-4-5", "status": 529,
         "latency_ms": 300.0, "error": "overloaded"},
        {"number": 2, "provider": "backup", "upstream_model": "gpt-4.1", "status": 200, "latency_ms": 590.0,
         "error": ""},
    ],
}


@pytest.fixture
def exported() -> Iterator[tuple[TraceSink, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield TraceSink(provider.get_tracer("test")), exporter
    provider.shutdown()


def test_a_fallback_is_one_request_span_with_a_child_per_attempt(exported):
    sink, exporter = exported
    sink.request(client_name="alice", fields=dict(FALLBACK_RECORD))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"messages claude-sonnet-4-5", "upstream primary", "upstream backup"}
    root, first, second = spans["messages claude-sonnet-4-5"], spans["upstream primary"], spans["upstream backup"]
    assert root.kind is SpanKind.SERVER and first.kind is SpanKind.CLIENT
    assert first.parent.span_id == root.context.span_id == second.parent.span_id
    assert first.context.trace_id == root.context.trace_id
    # laid end to end from the request's start, by their own latencies
    assert root.start_time == first.start_time and first.end_time == second.start_time
    assert (first.end_time - first.start_time) == 300_000_000
    assert (root.end_time - root.start_time) == 900_000_000
    assert first.status.status_code is StatusCode.ERROR and second.status.status_code is StatusCode.UNSET
    assert root.status.status_code is StatusCode.UNSET  # the client got its answer
    assert root.attributes["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert root.attributes["gen_ai.response.model"] == "gpt-4.1"
    assert root.attributes["gen_ai.usage.input_tokens"] == 1200
    assert root.attributes["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert root.attributes["gateway.client_key"] == "alice"
    assert root.attributes["gateway.attempts"] == 2


def test_a_failed_request_is_an_error_span(exported):
    sink, exporter = exported
    sink.request(client_name="", fields={**FALLBACK_RECORD, "status": 502, "error": "every provider failed",
                                         "attempts": FALLBACK_RECORD["attempts"][:1]})
    root = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert root.status.status_code is StatusCode.ERROR and "every provider failed" in root.status.description


def test_tracing_is_off_unless_enabled(settings):
    settings.OTEL_TRACES_ENABLED = False
    assert tracing_sink() is None


class _Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver on loopback: decodes the protobuf body, keeps the spans."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CollectorHandler)
        self.spans: list = []
        self.arrived = threading.Event()


class _CollectorHandler(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}.get("service.name")
            for scope in resource_spans.scope_spans:
                self.server.spans.extend((service, span) for span in scope.spans)
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
        if len(self.server.spans) >= 2:
            self.server.arrived.set()

    def log_message(self, *args: object) -> None:
        return None


@pytest.mark.slow
def test_spans_reach_an_otlp_collector_from_the_real_gateway(tmp_path):
    collector = _Collector()
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    env = {"OTEL_TRACES_ENABLED": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
           "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_SERVICE_NAME": "gw-under-test"}
    try:
        with FakeOpenAI() as up, start_gateway({**env, "PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": up.base_url,
                                                "OPENAI_API_KEY": "sk-test-fake"}, tmp_path) as gw:
            answer = httpx.post(f"{gw.url}/v1/messages", headers={"x-api-key": gw.client_key}, timeout=30, json={
                "model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
            assert answer.status_code == 200
            assert collector.arrived.wait(20), f"no spans arrived: {collector.spans}"
    finally:
        collector.shutdown()
    names = {span.name: (service, span) for service, span in collector.spans}
    assert "messages claude-sonnet-4-5" in names and "upstream openai" in names, sorted(names)
    service, root = names["messages claude-sonnet-4-5"]
    _, child = names["upstream openai"]
    assert service == "gw-under-test"
    assert child.parent_span_id == root.span_id and child.trace_id == root.trace_id
    attributes = {a.key: a.value for a in root.attributes}
    assert attributes["http.response.status_code"].int_value == 200
    assert attributes["gateway.client_key"].string_value  # the key's name, never the key
    assert not any(gw.client_key in str(a.value) for a in root.attributes)
