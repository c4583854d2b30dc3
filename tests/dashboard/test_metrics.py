"""/metrics under real daphne (multiprocess files), the console line, and the pure health rules."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dashboard.console import HandledResponses, line_format
from gateway.catalog import HealthInputs, health_reasons, provider_state
from gateway.traffic import Traffic, attempt_failed
from tests.fakes import FakeOpenAI

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
ROW = {"created": datetime(2026, 12, 1, 12, 3, 4, tzinfo=UTC), "requested_model": "claude-sonnet-5",
       "provider": "openai", "upstream_model": "gpt-4o", "status": 200, "input_tokens": 1200, "output_tokens": 45,
       "latency_ms": 1234.0, "ttft_ms": 400.0,
       "attempts": [{"provider": "anthropic", "status": 529}, {"provider": "openai", "status": 200}]}


def test_line_format_plain_names_the_route_tokens_latency_and_fallback():
    line = line_format(ROW, "alice", colour=False)
    assert line == ("12:03:04 alice            claude-sonnet-5 → openai/gpt-4o  200  in 1200 out 45  1.23 s  "
                    "ttft 0.40 s  ↪ anthropic 529")
    assert "\x1b[" not in line


def test_line_format_shows_the_cost_or_unknown():
    assert "in 1200 out 45  $0.003675  1.23 s" in line_format({**ROW, "cost_usd": Decimal("0.003675")}, "alice",
                                                             colour=False)
    assert "in 1200 out 45  unknown  1.23 s" in line_format({**ROW, "cost_usd": None}, "alice", colour=False)


def test_line_format_colours_the_status_on_a_terminal():
    assert "\x1b[32m200\x1b[0m" in line_format(ROW, "alice", colour=True)
    refused = line_format({"created": ROW["created"], "status": 429, "refusal": "rate_limit"}, "bob", colour=True)
    assert refused.endswith("refused \x1b[33m429\x1b[0m rate_limit")


def test_handled_responses_drops_djangos_4xx_lines_but_keeps_tracebacks():
    record = logging.LogRecord("django.request", logging.WARNING, "", 0, "Unauthorized: %s", ("/v1/messages",), None)
    record.status_code = 401
    assert HandledResponses().filter(record) is False
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        crashed = logging.LogRecord("django.request", logging.ERROR, "", 0, "Internal Server Error", (), sys.exc_info())
    crashed.status_code = 500
    assert HandledResponses().filter(crashed) is True
    other = logging.LogRecord("gateway", logging.WARNING, "", 0, "The database is unreachable", (), None)
    assert HandledResponses().filter(other) is True
    csrf = logging.LogRecord("django.security.csrf", logging.WARNING, "", 0, "Forbidden (CSRF)", (), None)
    csrf.status_code = 403
    assert HandledResponses().filter(csrf) is True


def test_traffic_rates_count_only_the_window_and_the_providers_faults():
    traffic = Traffic()
    for when, status in ((1.0, 500), (100.0, 200), (101.0, 429), (102.0, 502), (103.0, 499), (104.0, 401)):
        traffic.record("p", status, when)
    assert traffic.rates(window=10, now=105.0) == {"p": (5, 2)}  # 502 and 401 count; 429 and 499 do not
    assert [attempt_failed(s) for s in (0, 200, 400, 403, 429, 503)] == [True, False, False, True, False, True]


def test_health_reasons_and_state():
    inputs = HealthInputs(probes={"a": (False, "connection failed (ConnectError)"), "b": (True, "")},
                          traffic={"b": (10, 6), "c": (3, 3)}, missing={"d": "provider 'd' has no API key"},
                          min_calls=5, max_error_rate=0.5)
    assert health_reasons("a", inputs) == ["health check failed: connection failed (ConnectError)"]
    assert health_reasons("b", inputs) == ["6 of its last 10 calls failed"]
    assert health_reasons("c", inputs) == []  # too few calls to judge
    assert health_reasons("d", inputs) == ["provider 'd' has no API key"]
    assert provider_state("healthy", enabled=True, reasons=["x"]) == "unhealthy"
    assert provider_state("circuit_open", enabled=True, reasons=["x"]) == "circuit_open"
    assert provider_state("half_open", enabled=True, reasons=[]) == "half_open"
    assert provider_state("healthy", enabled=False, reasons=["x"]) == "disabled"


def _metrics(url: str, headers: dict[str, str]) -> dict[str, list]:
    reply = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def _rows(db_path, where: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute(f"SELECT coalesce(sum(count), 0) FROM dashboard_requestlog WHERE {where}").fetchone()[0])


def _wait_rows(db_path, where: str, expected: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    found = -1
    while time.monotonic() < deadline:
        found = _rows(db_path, where)
        if found >= expected:
            return found
        time.sleep(0.1)
    return found


@pytest.mark.timeout(120)
def test_metrics_under_daphne_equal_the_rows(tmp_path):
    from tests.support.gateway import start_gateway

    prom = tmp_path / "prom"
    prom.mkdir()
    env = {"PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": "", "OPENAI_API_KEY": "sk-test-fake",
           "PROMETHEUS_MULTIPROC_DIR": str(prom)}
    with FakeOpenAI() as up, start_gateway({**env, "OPENAI_BASE_URL": up.base_url}, tmp_path / "gw") as gw:
        assert httpx.get(f"{gw.url}/metrics", timeout=10).status_code == 401
        with httpx.Client(timeout=30) as client:
            served = [client.post(f"{gw.url}/v1/messages", headers=gw.headers(), json=BODY).status_code
                      for _ in range(4)]
            refused = [client.post(f"{gw.url}/v1/messages", headers={"x-api-key": "sk-gw-wrong-0000000000"},
                                   json=BODY).status_code for _ in range(3)]
        assert (served, refused) == ([200] * 4, [401] * 3)
        assert _wait_rows(gw.db_path, "refusal = ''", 4) == 4
        assert _wait_rows(gw.db_path, "refusal = 'bad_key'", 3) == 3
        samples = _metrics(gw.url, gw.staff_headers())
        requests = sum(s.value for s in samples["gateway_requests_total"])
        assert requests == _rows(gw.db_path, "refusal = ''") == 4
        assert all(s.labels["provider"] == "openai" and s.labels["key"] == "e2e" and s.labels["status"] == "200"
                   for s in samples["gateway_requests_total"])
        bad_key = sum(s.value for s in samples["gateway_refusals_total"] if s.labels["reason"] == "bad_key")
        assert bad_key == 3
        assert sum(s.value for s in samples["gateway_request_duration_seconds_count"]) == 4
        states = {(s.labels["provider"], s.labels["state"]): s.value for s in samples.get("gateway_breaker_state", [])}
        assert all(value == 0 for (_, state), value in states.items() if state == "open")
        assert list(prom.iterdir()), "prometheus_client wrote no multiprocess files"
        log = gw.log()
        assert "→ openai/" in log and "refused 401 bad_key" in log
        assert "Unauthorized: /v1/messages" not in log


def test_grafana_dashboard_uses_only_metrics_the_gateway_exports():
    import json
    import re
    from pathlib import Path

    from dashboard import metrics

    exported = {"gateway_breaker_state"}
    for collector in (metrics.REQUESTS, metrics.REFUSALS, metrics.ATTEMPTS, metrics.FALLBACKS, metrics.TOKENS,
                      metrics.COST, metrics.UNPRICED, metrics.LATENCY, metrics.TTFT, metrics.BACKLOG, metrics.DROPPED):
        exported |= {sample.name for family in collector.collect() for sample in family.samples}
        exported |= {f"{family.name}_{suffix}" for family in collector.collect() for suffix in ("total", "bucket")}
        exported |= {family.name for family in collector.collect()}
    board = json.loads((Path(__file__).resolve().parents[2] / "ops/grafana/gateway.json").read_text())
    used = {name for panel in board["panels"] for target in panel["targets"]
            for name in re.findall(r"gateway_[a-z_]+", target["expr"])}
    assert used and used <= exported, used - exported


def test_breaker_gauges_fold_credential_scopes_into_the_worst_state():
    from dashboard.metrics import BreakerScope, metrics_render

    text = metrics_render([BreakerScope("p", "m", "closed"), BreakerScope("p", "m", "open"),
                           BreakerScope("q", "m", "half_open")]).decode()
    samples = {(s.labels["provider"], s.labels["state"]): s.value
               for family in text_string_to_metric_families(text) if family.name == "gateway_breaker_state"
               for s in family.samples}
    assert samples[("p", "open")] == 1 and samples[("p", "closed")] == 0 and samples[("q", "half_open")] == 1
    assert len(samples) == 6  # two scopes x three states, no duplicate series
