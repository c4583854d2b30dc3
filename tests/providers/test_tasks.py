from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import tasks as dashboard_tasks
from dashboard.models import FallbackEvent, RequestLog
from providers import tasks
from providers.models import Provider
from providers.probes import health_check_run
from providers.selectors import provider_config
from proxy_project.schedules import beat_schedule_ensure
from routing.breaker import CLOSED, OPEN
from routing.models import CircuitState
from routing.resolution import Candidate
from tests.conftest import make_provider, make_tiers
from tests.fakes import FakeAnthropic, FakeOpenAI, Reply
from tests.fakes.bedrock_server import FAKE_CREDENTIALS, FakeBedrock
from tests.support.gateway import REPO_ROOT, gateway_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = True
    return settings


def circuit_for(provider: Provider, model: str) -> CircuitState | None:
    key = Candidate(provider_config(provider), model, "health").circuit
    return CircuitState.objects.filter(key=key).first()


def test_provider_health_check_success_stores_result(eager):
    with FakeOpenAI() as up:
        provider = make_provider("openai", up.base_url, key="sk-health-test")
        result = tasks.provider_health_check.delay(provider.pk).get()
        [request] = up.requests
    assert result["ok"] is True and result["status"] == 200 and result["latency_ms"] >= 0
    assert (request.method, request.path) == ("GET", "/v1/models")
    assert request.headers["authorization"] == "Bearer sk-health-test"
    provider.refresh_from_db()
    assert provider.health_ok is True and provider.health_checked_at is not None and provider.health_error == ""


def test_provider_health_check_anthropic_models_endpoint(eager):
    with FakeAnthropic() as up:
        provider = make_provider("anthropic", up.base_url, kind="anthropic", key="sk-ant-api03-health")
        result = tasks.provider_health_check.delay(provider.pk).get()
        [request] = up.requests
    assert result["ok"] is True
    assert request.path == "/v1/models"
    assert request.headers["x-api-key"] == "sk-ant-api03-health"
    assert request.headers["anthropic-version"] == "2023-06-01"


def test_provider_health_check_failure_counts_on_served_models(eager):
    eager.CIRCUIT_FAILURE_THRESHOLD = 2
    with FakeOpenAI() as up:
        provider = make_provider("openai", up.base_url)
        make_tiers(default=(provider, "gpt-test"))
        up.enqueue(Reply.error(503), Reply.error(503), path="/v1/models")
        first = health_check_run(provider_id=provider.pk, force=True)
        assert (first.ok, first.status, first.error) == (False, 503, "HTTP 503")
        assert circuit_for(provider, "gpt-test").failure_count == 1
        assert circuit_for(provider, "gpt-test").state == CLOSED
        health_check_run(provider_id=provider.pk, force=True)
    circuit = circuit_for(provider, "gpt-test")
    assert (circuit.state, circuit.failure_count) == (OPEN, 2)
    provider.refresh_from_db()
    assert provider.health_ok is False and provider.health_error == "HTTP 503"


def test_provider_health_check_success_closes_failed_circuits_not_cooldowns(eager):
    with FakeOpenAI() as up:
        provider = make_provider("openai", up.base_url)
        now = time.time()
        CircuitState.objects.create(key="f", provider=provider, model="a", state=OPEN, failure_count=5,
                                    open_until=now + 30, reason="failed 503")
        CircuitState.objects.create(key="r", provider=provider, model="b", limited_until=now + 300,
                                    limit_streak=4, reason="rate_limited")
        assert tasks.provider_health_check.delay(provider.pk).get()["ok"] is True
    assert CircuitState.objects.get(key="f").state == CLOSED
    # a 200 from /models says nothing about quota
    assert CircuitState.objects.get(key="r").limited_until == now + 300


def test_provider_health_check_auth_error_reports_without_moving_circuits(eager):
    with FakeOpenAI() as up:
        provider = make_provider("openai", up.base_url)
        make_tiers(default=(provider, "gpt-test"))
        up.enqueue(Reply.error(401), path="/v1/models")
        result = tasks.provider_health_check.delay(provider.pk).get()
    assert (result["ok"], result["status"]) == (False, 401)
    assert circuit_for(provider, "gpt-test") is None


def test_provider_health_check_times_out(eager):
    eager.HEALTH_CHECK_TIMEOUT = 0.5
    with FakeOpenAI() as up:
        provider = make_provider("openai", up.base_url)
        up.enqueue(Reply.hang(5), path="/v1/models")
        started = time.monotonic()
        result = tasks.provider_health_check.delay(provider.pk).get()
    assert time.monotonic() - started < 3
    assert (result["ok"], result["status"]) == (False, 504) and "timed out" in result["error"]


def test_provider_health_check_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = make_provider("openai", f"http://127.0.0.1:{port}/v1")
    result = health_check_run(provider_id=provider.pk)
    assert (result.ok, result.status) == (False, 502) and "connection failed" in result.error


def test_provider_health_check_probes_bedrock_with_a_signed_one_token_call():
    with FakeBedrock() as up:
        provider = make_provider("bedrock", up.base_url, kind="bedrock", key=json.dumps(FAKE_CREDENTIALS),
                                 options={"region": "us-east-1", "region_prefix": "us"})
        result = health_check_run(provider_id=provider.pk)
        assert result.ok and not result.skipped and up.rejected == []
        assert up.main_requests[-1].json["max_tokens"] == 1
    provider.refresh_from_db()
    assert provider.health_ok is True and provider.health_error == ""


def test_provider_health_check_runs_once_when_two_workers_race(eager):
    with FakeOpenAI() as up:
        provider = make_provider("openai", up.base_url)
        up.enqueue(Reply.json({"data": []}, latency=0.3), path="/v1/models")
        results = []
        threads = [threading.Thread(target=lambda: results.append(health_check_run(provider_id=provider.pk)))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(up.requests) == 1
    assert sorted(r.skipped for r in results) == [False, True]


def test_provider_health_check_all_fans_out_to_enabled_providers(eager):
    with FakeOpenAI() as up:
        on = make_provider("on", up.base_url)
        make_provider("off", up.base_url, enabled=False)
        assert tasks.provider_health_check_all.delay().get() == [on.pk]
        assert len(up.requests) == 1


def test_request_log_prune_deletes_old_rows_in_batches(eager):
    eager.REQUEST_LOG_RETENTION_DAYS = 7
    eager.REQUEST_LOG_PRUNE_BATCH = 2
    now = timezone.now()
    RequestLog.objects.bulk_create([RequestLog(created=now - timedelta(days=8 + i)) for i in range(5)])
    RequestLog.objects.bulk_create([RequestLog(created=now - timedelta(days=1)) for _ in range(2)])
    FallbackEvent.objects.create(created=now - timedelta(days=30), from_provider="a", from_model="m",
                                 to_provider="b", to_model="n", reason="x")
    assert dashboard_tasks.request_log_prune.delay().get() == 6
    assert RequestLog.objects.count() == 2 and not FallbackEvent.objects.exists()


def test_request_log_prune_keeps_everything_when_retention_is_zero(eager):
    eager.REQUEST_LOG_RETENTION_DAYS = 0
    RequestLog.objects.create(created=timezone.now() - timedelta(days=400))
    assert dashboard_tasks.request_log_prune.delay().get() == 0
    assert RequestLog.objects.count() == 1


def test_oauth_token_refresh_due_without_tokens(eager):
    assert tasks.oauth_token_refresh_due.delay().get() == []


def test_beat_schedule_ensure_creates_defaults_once_and_keeps_admin_edits():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    assert set(beat_schedule_ensure()) == {"provider health checks", "OAuth token refresh", "request log retention",
                                           "agent fingerprint sighting retention"}
    health = PeriodicTask.objects.get(name="provider health checks")
    assert (health.task, health.interval.every, health.enabled) == ("providers.tasks.provider_health_check_all", 60, True)
    assert PeriodicTask.objects.get(name="request log retention").crontab.hour == "3"
    health.interval, _ = IntervalSchedule.objects.get_or_create(every=300, period=IntervalSchedule.SECONDS)
    health.save()
    assert beat_schedule_ensure() == []
    assert PeriodicTask.objects.get(name="provider health checks").interval.every == 300


def test_beat_schedule_tasks_are_registered():
    from proxy_project.celery import app
    from proxy_project.schedules import defaults

    app.loader.import_default_modules()
    for item in defaults():
        assert item.task in app.tasks, item.task


# --- A real worker process against Redis ----------------------------------------------------------

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args, "--verbosity", "0"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_provider_health_check_on_a_real_worker_with_redis(tmp_path):
    """The worker checks the provider, stores the result, and its status row reaches the
    dashboard group through the Redis channel layer (what browsers on daphne receive)."""
    if not redis_available():
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis is not reachable at {REDIS_URL} and REQUIRE_SERVICES=1")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    from celery import Celery
    from channels_redis.core import RedisChannelLayer

    queue = f"test-{uuid.uuid4().hex[:8]}"
    with FakeOpenAI() as up:
        env = gateway_env({"CELERY_BROKER_URL": REDIS_URL, "CELERY_RESULT_BACKEND": REDIS_URL, "REDIS_URL": REDIS_URL},
                          tmp_path / "worker.sqlite3")
        manage(env, "migrate", "--noinput")
        pid = int(manage(env, "shell", "-c", (
            "from providers.models import Provider; p = Provider(name='openai', kind='openai_compat', "
            f"base_url='{up.base_url}'); p.set_api_key('sk-worker-test'); p.save(); print(p.pk)"
        )).strip())
        log = (tmp_path / "worker.log").open("w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "proxy_project", "worker", "--pool=solo", "-Q", queue,
             "--without-mingle", "--without-gossip", "--loglevel=INFO"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

        async def check_and_listen():
            layer = RedisChannelLayer(hosts=[REDIS_URL])
            channel = await layer.new_channel()
            await layer.group_add("dashboard", channel)
            try:
                client = Celery(broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
                result = client.send_task("providers.tasks.provider_health_check", args=[pid], queue=queue)
                value = await asyncio.to_thread(result.get, timeout=60)
                message = await asyncio.wait_for(layer.receive(channel), 10)
                return value, message
            finally:
                await layer.group_discard("dashboard", channel)

        try:
            value, message = asyncio.run(check_and_listen())
            assert value["ok"] is True and value["status"] == 200, value
            assert up.requests[0].headers["authorization"] == "Bearer sk-worker-test"
            assert message["type"] == "dashboard.event" and f'id="provider-{pid}"' in message["html"]
            stored = manage(env, "shell", "-c",
                            f"from providers.models import Provider; print(Provider.objects.get(pk={pid}).health_ok)")
            assert stored.strip() == "True"
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
            log.close()
            print((tmp_path / "worker.log").read_text()[-3000:])
