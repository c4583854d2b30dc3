from __future__ import annotations

import pytest

from routing.breaker import (
    Circuit,
    Policy,
    admission,
    blocked_until,
    breaker_class,
    explicit_wait,
    on_answer,
    on_failure,
    on_probe,
    on_rate_limit,
    on_success,
    rate_limit_cooldown,
    status_label,
)

POLICY = Policy(failure_threshold=3, recovery_timeout=30, rate_limit_cooldown=300)


def run(steps, now=100.0, c=None):
    """Apply a list of events: 'fail', '429', ('429', retry_after), 'answer', 'ok', 'probe'."""
    c = c or Circuit()
    for step in steps:
        kind, arg = (step, None) if isinstance(step, str) else step
        if kind == "fail":
            c = on_failure(c, now, POLICY, reason="failed 500")
        elif kind == "429":
            c = on_rate_limit(c, now, POLICY, retry_after=arg)
        elif kind == "answer":
            c = on_answer(c)
        elif kind == "ok":
            c = on_success(c)
        elif kind == "probe":
            c = on_probe(c, now)
        elif kind == "wait":
            now += arg
    return c, now


@pytest.mark.parametrize(
    ("steps", "state", "count"),
    [
        (["fail", "fail"], "closed", 2),
        (["fail", "fail", "fail"], "open", 3),
        (["fail", "fail", "ok", "fail", "fail"], "closed", 2),  # consecutive: a success resets
        ([("429", 0), "fail"], "closed", 1),  # a 429 then one 5xx does not open
        ([("429", None), "fail", "fail"], "closed", 2),  # 429s never count as failures
        (["fail", "fail", ("429", 0), "fail"], "open", 3),  # ...nor reset the count
        (["fail", "fail", "answer", "fail"], "open", 3),  # a committed stream that aborts still counts
    ],
)
def test_circuit_counts_consecutive_provider_failures(steps, state, count):
    c, _ = run(steps)
    assert (c.state, c.failure_count) == (state, count)


def test_circuit_opens_after_threshold_failures_then_one_probe():
    c, now = run(["fail"] * 3)
    assert (c.state, c.open_until) == ("open", 130.0)
    assert admission(c, 129.9, POLICY) == "blocked" and status_label(c, 110.0) == "circuit_open"
    assert admission(c, 130.0, POLICY) == "probe"


def test_circuit_half_open_probe_success_closes_failure_reopens():
    opened = Circuit("open", 3, open_until=10.0)
    probing = on_probe(opened, 11.0)
    assert probing.state == "half_open" and admission(probing, 12.0, POLICY) == "blocked"
    assert on_success(probing) == Circuit()
    again = on_failure(probing, 12.0, POLICY, reason="failed 503")
    assert (again.state, again.open_until) == ("open", 42.0)


def test_circuit_after_recovery_needs_threshold_failures_again():
    c, now = run(["fail"] * 3 + [("wait", 31), "probe", "ok", "fail", "fail"])
    assert (c.state, c.failure_count) == ("closed", 2)


@pytest.mark.parametrize(("streak", "seconds"), [(0, 1), (1, 2), (2, 4), (5, 32), (8, 256), (9, 300), (500, 300)])
def test_rate_limit_cooldown_grows_to_the_cap(streak, seconds):
    assert rate_limit_cooldown(streak, POLICY) == seconds


def test_circuit_429_without_retry_after_grows_per_cooldown_not_per_request():
    c, now = run(["429"])
    assert (c.limited_until, c.limit_streak, c.limit_explicit) == (101.0, 1, False)
    assert admission(c, 100.5, POLICY) == "blocked" and status_label(c, 100.5) == "cooling_down"
    same, _ = run(["429", "429"], c=c)  # in-flight requests of the same episode
    assert same.limited_until == 101.0 and same.limit_streak == 1
    later, now = run([("wait", 1), "429", ("wait", 2), "429"], now=now, c=c)
    assert (later.limit_streak, later.limited_until - now) == (3, 4.0)
    assert run(["answer"], c=later)[0].limit_streak == 0  # an answer ends the streak


def test_circuit_429_honours_retry_after_and_marks_it_explicit():
    c, now = run([("429", 7)])
    assert c.limited_until == 107.0 and explicit_wait(c, 101.0) == 6.0
    assert explicit_wait(c, 107.0) is None and admission(c, 107.0, POLICY) == "pass"
    zero, _ = run([("429", 0)])
    assert admission(zero, 100.0, POLICY) == "pass" and explicit_wait(zero, 100.0) is None


def test_circuit_429_releases_a_half_open_probe_without_a_verdict():
    probing = on_probe(Circuit("open", 3, open_until=10.0), 11.0)
    c = on_rate_limit(probing, 12.0, POLICY, retry_after=None)
    assert (c.state, c.open_until, c.failure_count, c.limited_until) == ("open", 12.0, 3, 13.0)
    assert admission(c, 12.5, POLICY) == "blocked" and admission(c, 13.0, POLICY) == "probe"


def test_blocked_until_is_the_later_of_both_parts():
    c = Circuit("open", 3, open_until=50.0, limited_until=60.0)
    assert blocked_until(c, POLICY) == 60.0
    assert blocked_until(Circuit("half_open", 3, probe_since=40.0), POLICY) == 70.0


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, "rate_limit"), (500, "failure"), (502, "failure"), (503, "failure"), (504, "failure"),
     (529, "failure"), (408, "failure"), (400, None), (401, None), (404, None), (409, None), (413, None)],
)
def test_breaker_class_counts_only_provider_side_statuses(status, kind):
    assert breaker_class(status) == kind
