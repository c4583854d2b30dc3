"""runtime/ttlcache.py, runtime/resets.py and the decrypted-secret LRU of runtime/crypto.py."""

from __future__ import annotations

import asyncio

import pytest

from runtime import crypto, resets
from runtime.ttlcache import MISS, Refreshed, TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_are_fresh_for_the_ttl_then_only_stale():
    clock = Clock()
    cache: TTLCache[str, int | None] = TTLCache(10.0, maxsize=4, clock=clock)
    cache.set("a", None)  # None is a value (a refused key), not a miss
    assert cache.get("a") is None
    clock.now += 9.9
    assert cache.get("a") is None
    clock.now += 0.1
    assert cache.get("a") is MISS
    assert cache.stale("a") is None  # stale-if-error still has it
    assert cache.stale("b") is MISS


def test_the_ttl_is_read_when_an_entry_is_set():
    clock, ttl = Clock(), [10.0]
    cache: TTLCache[str, int] = TTLCache(lambda: ttl[0], maxsize=4, clock=clock)
    cache.set("a", 1)
    ttl[0] = 0.0  # like settings.CLIENT_KEY_CACHE_TTL = 0
    assert cache.get("a") == 1
    cache.set("b", 2)
    assert cache.get("b") is MISS


def test_the_size_is_bounded_and_the_entry_set_longest_ago_goes_first():
    cache: TTLCache[int, int] = TTLCache(60.0, maxsize=3, clock=Clock())
    for key in range(3):
        cache.set(key, key)
    cache.set(0, 0)  # set again: now the youngest
    cache.set(3, 3)
    assert len(cache) == 3
    assert 1 not in cache and {0, 2, 3} == {k for k in range(4) if k in cache}


class Boom(Exception):
    pass


async def test_refreshed_loads_once_per_ttl_and_serves_the_last_value_on_errors():
    clock, calls, failing = Clock(), [], [False]

    async def load() -> int:
        calls.append(clock.now)
        if failing[0]:
            raise Boom
        return len(calls)

    errors: list[BaseException] = []
    value = Refreshed(load, 5.0, errors=(Boom,), on_error=errors.append, clock=clock)
    assert await value.get() == 1
    assert await value.get() == 1 and len(calls) == 1
    clock.now += 5
    failing[0] = True
    assert await value.get() == 1 and len(errors) == 1  # stale-if-error
    assert await value.get() == 1 and len(calls) == 2  # tried again only after the TTL
    clock.now += 5
    failing[0] = False
    assert await value.get() == 3


async def test_refreshed_without_a_value_raises_the_first_failure():
    async def load() -> int:
        raise Boom

    with pytest.raises(Boom):
        await Refreshed(load, 5.0, errors=(Boom,)).get()


async def test_refreshed_is_single_flight_and_others_keep_the_previous_value():
    clock, gate, calls = Clock(), asyncio.Event(), []

    async def load() -> int:
        calls.append(1)
        if len(calls) > 1:
            await gate.wait()
        return len(calls)

    value = Refreshed(load, 5.0, clock=clock)
    assert await value.get() == 1
    value.expire()
    reload = asyncio.create_task(value.get())
    await asyncio.sleep(0)
    assert await value.get() == 1  # the reload is running: the previous value, no second load
    gate.set()
    assert await reload == 2 and len(calls) == 2


async def test_refreshed_with_an_initial_value_serves_it_while_the_first_load_fails():
    async def load() -> dict[str, int]:
        raise Boom

    value: Refreshed[dict[str, int]] = Refreshed(load, 5.0, initial={}, errors=(Boom,))
    assert await value.get() == {}


def test_reset_all_runs_every_registered_hook_once():
    seen: list[str] = []

    def hook() -> None:
        seen.append("x")

    resets.register(hook)
    resets.register(hook)
    try:
        resets.reset_all()
        assert seen == ["x"]
        assert f"{__name__}.test_reset_all_runs_every_registered_hook_once.<locals>.hook" in resets.registered()
    finally:
        resets._hooks.pop(hook, None)


def test_decrypted_secrets_are_cached_in_a_bounded_lru(settings):
    settings.FIELD_ENCRYPTION_KEYS_FILE = ""
    settings.FIELD_ENCRYPTION_KEYS = ["tests-only-key-material"]
    crypto._decrypted.cache_clear()
    tokens = [crypto.encrypt(f"sk-test-fake-{i:04d}") for i in range(crypto.DECRYPTED_MAX + 10)]
    assert [crypto.decrypt(t) for t in tokens] == [f"sk-test-fake-{i:04d}" for i in range(len(tokens))]
    info = crypto._decrypted.cache_info()
    assert info.currsize == crypto.DECRYPTED_MAX and info.maxsize == crypto.DECRYPTED_MAX
    crypto.decrypt(tokens[-1])
    assert crypto._decrypted.cache_info().hits == info.hits + 1
    settings.FIELD_ENCRYPTION_KEYS = ["tests-only-other-key", "tests-only-key-material"]  # rotated: a new entry
    assert crypto.decrypt(tokens[-1]) == f"sk-test-fake-{len(tokens) - 1:04d}"
    assert crypto._decrypted.cache_info().misses == info.misses + 1
