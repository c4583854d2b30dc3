"""In-process A/B of the upstream transport: CPU per request in this process, interleaved rounds.

``lean`` is providers.transport.UpstreamTransport over LeanPool (as deployed), ``stock-pool`` the
same transport over httpcore's AsyncConnectionPool, ``httpx-default`` httpx's own transport. All
three call the same fake upstream (bench/fake_upstream.py, its own process), so the gateway's
Django and daphne costs are out of the picture.

    .venv/bin/python bench/transport_micro.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from providers.transport import NoCookieJar, upstream_transport  # noqa: E402

LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=30.0)


def body(stream: bool) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}).encode()


def clients() -> dict[str, httpx.AsyncClient]:
    def made(transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, limits=LIMITS, trust_env=False, cookies=NoCookieJar())

    return {"lean": made(upstream_transport(LIMITS)), "stock-pool": made(upstream_transport(LIMITS, lean=False)),
            "httpx-default": made(None)}


async def batch(client: httpx.AsyncClient, url: str, conc: int, per_worker: int, stream: bool) -> float:
    content = body(stream)

    async def worker() -> None:
        for _ in range(per_worker):
            async with client.stream("POST", url, content=content) as resp:
                async for _ in resp.aiter_raw():
                    pass

    t0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return (time.process_time() - t0) * 1000 / (conc * per_worker)


async def run(url: str, rounds: int) -> None:
    variants = clients()
    results: dict[str, dict[str, list[float]]] = {}
    for client in variants.values():
        await batch(client, url, 16, 20, False)  # warm-up: connections open
    for r in range(rounds):
        for conc, stream in ((1, False), (16, False), (16, True)):
            names = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in names:
                cpu = await batch(variants[name], url, conc, 300 if conc == 1 else 20, stream)
                results.setdefault(f"{'stream' if stream else 'nonstream'} c={conc}", {}).setdefault(name, []).append(cpu)
    print("client-side CPU ms per request, median (min) over rounds")
    for key, by_name in results.items():
        print(f"{key:15s} " + "  ".join(f"{n} {statistics.median(v):.3f} ({min(v):.3f})" for n, v in by_name.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description="in-process A/B of the upstream transport")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    fake = subprocess.Popen([sys.executable, str(BENCH / "fake_upstream.py"), "--port", "0", "--max-seconds", "300"],
                            stdout=subprocess.PIPE)
    try:
        assert fake.stdout is not None
        url = f"http://127.0.0.1:{int(fake.stdout.readline().split()[1])}/v1/chat/completions"
        asyncio.run(run(url, args.rounds))
    finally:
        fake.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
