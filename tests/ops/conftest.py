from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes tens of seconds (kept in the default run)")
