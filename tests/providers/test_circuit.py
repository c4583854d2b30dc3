from __future__ import annotations

from providers.circuit import Circuit, Policy, admission, on_failure, on_probe, on_success, status_label

POLICY = Policy(failure_threshold=3, recovery_timeout=30, rate_limit_cooldown=300)


def test_circuit_opens_after_threshold_failures():
    c = Circuit()
    for _ in range(2):
        c = on_failure(c, 100.0, POLICY, status=500, retry_after=None)
        assert c.state == "closed" and admission(c, 100.0, POLICY) == "pass"
    c = on_failure(c, 100.0, POLICY, status=502, retry_after=None)
    assert (c.state, c.open_until) == ("open", 130.0)
    assert admission(c, 129.9, POLICY) == "blocked"
    assert admission(c, 130.0, POLICY) == "probe"
    assert status_label(c, 110.0) == "circuit_open"


def test_circuit_429_cools_down_for_retry_after_or_default():
    assert on_failure(Circuit(), 0.0, POLICY, status=429, retry_after=7).open_until == 7.0
    c = on_failure(Circuit(), 0.0, POLICY, status=429, retry_after=None)
    assert (c.state, c.open_until, status_label(c, 1.0)) == ("open", 300.0, "cooling_down")


def test_circuit_half_open_probe_success_closes_failure_reopens():
    opened = Circuit("open", 3, open_until=10.0)
    probing = on_probe(opened, 11.0)
    assert probing.state == "half_open" and admission(probing, 12.0, POLICY) == "blocked"
    assert on_success(probing) == Circuit()
    again = on_failure(probing, 12.0, POLICY, status=503, retry_after=None)
    assert (again.state, again.open_until) == ("open", 42.0)
