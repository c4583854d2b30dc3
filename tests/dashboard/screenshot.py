"""Take the README's dashboard screenshot: ``python -m tests.dashboard.screenshot docs/dashboard.png``.

A real gateway (daphne, as tests/dashboard/test_browser.py runs it) in front of fake Anthropic
and OpenAI upstreams; four client keys send requests through it (prompt-cache reads, a 529 that
falls back to OpenAI, a key over its per-minute limit). The chart's earlier hours are rows written
straight into the database (BACKFILL: the gateway has been up for a minute, not a day); the
panels' last-hour numbers and the recent requests are real traffic. Needs Chromium and Playwright.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx

from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.fakes import FakeOpenAI, Reply
from tests.fakes.anthropic_server import FakeAnthropic, anthropic_error, anthropic_message
from tests.support.gateway import GatewayProcess, start_gateway

KEYS = {"alice": "sk-gw-fake-alice-000000", "bob": "sk-gw-fake-bob-00000000", "ci-bot": "sk-gw-fake-cibot-000000"}
BACKFILL = """
import random
from datetime import timedelta
from django.utils import timezone
from dashboard.models import RequestLog
from clients.models import ClientKey
rnd, now = random.Random(13), timezone.now()
keys = list(ClientKey.objects.all())
rows = []
for hour in range(1, 24):
    for _ in range(int(25 + 20 * abs(12 - hour) / 12 * rnd.random() * 3)):
        provider = rnd.choice(["anthropic"] * 3 + ["openai"])
        rows.append(RequestLog(created=now - timedelta(hours=hour, minutes=rnd.random() * 59), client_key=rnd.choice(keys),
                               requested_model="claude-sonnet-5", provider=provider, upstream_model="claude-sonnet-5",
                               status=rnd.choice([200] * 40 + [529, 500]), input_tokens=rnd.randint(200, 3000),
                               latency_ms=rnd.uniform(900, 9000), session_id=f"sess-{rnd.randint(1, 12):04d}",
                               output_tokens=rnd.randint(20, 900),
                               cached_tokens=rnd.randint(0, 20000) if provider == "anthropic" else rnd.randint(0, 2000)))
RequestLog.objects.bulk_create(rows)
"""
BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def traffic(gw: GatewayProcess, anthropic: FakeAnthropic) -> None:
    with httpx.Client(base_url=gw.url, timeout=30, trust_env=False) as client:
        def send(key: str, n: int = 1) -> None:
            for _ in range(n):
                client.post("/v1/messages", json=BODY, headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
        for cached in (0, 9000, 12000, 15000):
            anthropic.enqueue(Reply.json(anthropic_message("ok", usage=(800, 120, cached))))
            send(KEYS["alice"])
        anthropic.enqueue(Reply.json(anthropic_error(529, "overloaded", "overloaded_error"), status=529))
        send(KEYS["bob"], 3)
        send(KEYS["ci-bot"], 6)  # 2 a minute: the rest are throttled
        send(gw.client_key, 2)


def main(out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp, FakeAnthropic() as anthropic, FakeOpenAI() as openai:
        env = {"PREFERRED_PROVIDER": "anthropic", "ANTHROPIC_BASE_URL": anthropic.origin,
               "ANTHROPIC_API_KEY": "sk-ant-test-fake", "OPENAI_BASE_URL": openai.base_url,
               "OPENAI_API_KEY": "sk-test-fake-openai", "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
        with start_gateway(env, Path(tmp)) as gw:
            gw.manage("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com")
            for name, key in KEYS.items():
                limits = ["--requests-per-minute", "2"] if name == "ci-bot" else []
                gw.manage("create_client_key", name, "--key", key, *limits)
            gw.manage("shell", "-c", BACKFILL)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"{gw.url}/admin/login/?next=/dashboard/")
                page.fill("#id_username", "ops")
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                expect(page.locator("#live")).to_have_class("live", timeout=10_000)
                traffic(gw, anthropic)
                expect(page.locator("#throttled tr.refusal")).to_have_count(1, timeout=5_000)
                page.wait_for_timeout(1500)  # the last totals (at most a second behind)
                page.screenshot(path=str(out), full_page=True)
                browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/dashboard.png"))
