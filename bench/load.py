"""Closed-loop HTTP/1.1 load generator (raw asyncio streams, keep-alive), run in its own process.

N clients each hold one keep-alive connection and send the next request as soon as the previous
response has been read completely. A warm-up phase runs first on the same connections; the measured
phase is bounded by ``--duration`` seconds or ``--requests`` total requests, whichever is given.

Per request it records latency (request written -> last byte), TTFB (first response byte) and, for
streams, TTFT: the first ``content_block_delta`` event (gateway, Anthropic SSE) or the first
``{"content":"...`` delta chunk (direct, and ``gateway-openai``: the gateway's OpenAI dialect). CPU of the processes named with ``--cpu-pid``
is read at the start and the end of the measured phase, from ``/proc/<pid>/stat`` (utime+stime,
clock ticks) and from the kernel's per-process CPU clock (nanoseconds).

Prints one JSON object on stdout. Example::

    python bench/load.py --port 8080 --target direct --mode stream -c 16 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payloads import CLIENT_MODEL, anthropic_body_sized, count_tokens_body, dumps, openai_body  # noqa: E402
from proc import CpuSample, cpu_sample, system_cpu_s  # noqa: E402

GATEWAY_MARKER = b"content_block_delta"
DIRECT_MARKER = b'"delta":{"content":"'
MODES = ("stream", "nonstream", "count_tokens")


@dataclass(slots=True)
class Stats:
    latencies: list[float] = field(default_factory=list)
    ttfb: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    reconnects: int = 0
    bytes_in: int = 0
    completed: int = 0  # successful responses, recorded or not (warm-up)

    def error(self, msg: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(msg[:500])


def build_request(
    host: str, port: int, target: str, mode: str, api_key: str, size: int = 0
) -> tuple[bytes, bytes]:
    """(request bytes, marker) for one scenario; ``size``: body bytes (0: the ~46 KB default)."""
    if target == "gateway":
        if mode == "count_tokens":
            path, body = "/v1/messages/count_tokens", count_tokens_body()
        else:
            path, body = "/v1/messages", anthropic_body_sized(mode == "stream", size)
        headers = {
            "x-api-key": api_key,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
            "user-agent": "claude-cli/2.0.0 (external, cli)",
            "x-app": "cli",
            "accept": "application/json",
        }
        marker = GATEWAY_MARKER
    else:
        if mode == "count_tokens":
            raise SystemExit("count_tokens has no direct equivalent")
        path, body = "/v1/chat/completions", openai_body(mode == "stream", size=size)
        headers = {"authorization": f"Bearer {api_key}", "accept": "application/json"}
        marker = DIRECT_MARKER
        if target == "gateway-openai":  # the gateway's OpenAI dialect: the same body, a Claude model name
            body["model"] = CLIENT_MODEL
            if mode == "stream":
                body["stream_options"] = {"include_usage": True}
    raw = dumps(body)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(raw)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + raw, marker


class Closed(Exception):
    pass


async def one_request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    req: bytes,
    marker: bytes,
    want_marker: bool,
    stats: Stats,
    record: bool,
) -> bool:
    """Send one request and read its response. Returns True if the connection stays usable."""
    t0 = time.perf_counter()
    writer.write(req)
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise Closed(str(exc)) from None
    t_first = time.perf_counter()
    status_line, _, rest = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 else 0
    lower = rest.lower()
    keep = b"connection: close" not in lower
    t_token = 0.0
    n_in = len(head)
    body_parts: list[bytes] = []
    if b"transfer-encoding: chunked" in lower:
        tail = b""
        keep_len = len(marker) - 1
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from our servers
                break
            data = await reader.readexactly(size + 2)
            n_in += size + len(size_line) + 2
            if not t_token and want_marker and marker in tail + data:
                t_token = time.perf_counter()
            tail = data[-keep_len - 2 :]
            if status != 200 or not want_marker:
                body_parts.append(data[:-2])
            else:  # keep the last two chunks only (for the end-of-stream check)
                body_parts = [body_parts[-1], data[:-2]] if body_parts else [data[:-2]]
    else:
        idx = lower.find(b"content-length:")
        if idx >= 0:
            eol = lower.find(b"\r\n", idx)
            length = int(lower[idx + 15 : eol if eol >= 0 else len(lower)].strip())
            data = await reader.readexactly(length)
            n_in += length
            body_parts.append(data)
        else:  # read to close
            data = await reader.read()
            body_parts.append(data)
            keep = False
    t_end = time.perf_counter()
    body = b"".join(body_parts)
    if status != 200:
        stats.error(f"HTTP {status}: {body[:400]!r}")
    elif want_marker and not t_token:
        stats.error(f"no token marker {marker!r} in stream: {body[-300:]!r}")
    elif want_marker and b"[DONE]" not in body and b"message_stop" not in body:
        stats.error(f"stream did not end with [DONE]/message_stop: {body[-300:]!r}")
    else:
        stats.completed += 1
        if record:
            stats.latencies.append(t_end - t0)
            stats.ttfb.append(t_first - t0)
            if want_marker:
                stats.ttft.append(t_token - t0)
            stats.bytes_in += n_in
    return keep


async def client_loop(
    host: str,
    port: int,
    req: bytes,
    marker: bytes,
    want_marker: bool,
    stats: Stats,
    stop_at: float,
    budget: list[int] | None,
    conn: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None],
    record: bool,
) -> None:
    """Run requests until stop_at (monotonic) or until the shared budget is used up."""
    while time.monotonic() < stop_at:
        if budget is not None:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        pair = conn[0]
        if pair is None:
            pair = conn[0] = await asyncio.open_connection(host, port)
        reader, writer = pair
        try:
            keep = await one_request(reader, writer, req, marker, want_marker, stats, record)
        except (Closed, ConnectionError, asyncio.IncompleteReadError) as exc:
            writer.close()
            conn[0] = None
            stats.reconnects += 1
            stats.error(f"connection lost: {exc!r}")
            await asyncio.sleep(0.01)
            continue
        if not keep:
            writer.close()
            conn[0] = None
            stats.reconnects += 1


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100.0 * len(s) + 0.5) - 1))
    return s[k]


def summarize(
    stats: Stats, elapsed: float, cpu0: dict[str, CpuSample], cpu1: dict[str, CpuSample]
) -> dict[str, Any]:
    n = len(stats.latencies)
    out: dict[str, Any] = {
        "requests": n,
        "errors": stats.errors,
        "error_samples": stats.error_samples,
        "reconnects": stats.reconnects,
        "elapsed_s": elapsed,
        "rps": n / elapsed if elapsed > 0 else 0.0,
        "lat_p50_ms": pct(stats.latencies, 50) * 1e3,
        "lat_p99_ms": pct(stats.latencies, 99) * 1e3,
        "lat_mean_ms": (sum(stats.latencies) / n * 1e3) if n else float("nan"),
        "ttfb_p50_ms": pct(stats.ttfb, 50) * 1e3,
        "ttft_p50_ms": pct(stats.ttft, 50) * 1e3 if stats.ttft else None,
        "ttft_p99_ms": pct(stats.ttft, 99) * 1e3 if stats.ttft else None,
        "bytes_in_per_req": stats.bytes_in / n if n else 0,
        "cpu": {},
    }
    for name, a in cpu0.items():
        b = cpu1.get(name)
        if b is None:
            continue
        d_stat = b.stat_s - a.stat_s
        d_clock = b.clock_s - a.clock_s
        out["cpu"][name] = {
            "stat_s": d_stat,
            "clock_s": d_clock,
            "stat_ms_per_req": d_stat * 1e3 / n if n else None,
            "clock_ms_per_req": d_clock * 1e3 / n if n else None,
            "util": d_clock / elapsed if elapsed > 0 else None,
        }
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    req, marker = build_request(args.host, args.port, args.target, args.mode, args.api_key, args.body_bytes)
    want_marker = args.mode == "stream"
    pids: dict[str, int] = {}
    for spec in args.cpu_pid:
        name, _, pid = spec.partition("=")
        pids[name] = int(pid)
    pids["loadgen"] = os.getpid()
    conns: list[list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]] = [
        [None] for _ in range(args.concurrency)
    ]
    warm = Stats()
    if args.warmup > 0:
        stop = time.monotonic() + args.warmup
        await asyncio.gather(
            *(
                client_loop(args.host, args.port, req, marker, want_marker, warm, stop, None, c, False)
                for c in conns
            )
        )
    stats = Stats()
    budget = [args.requests] if args.requests else None
    stop = time.monotonic() + (args.duration if not args.requests else args.max_seconds)
    cpu0 = {name: cpu_sample(pid) for name, pid in pids.items()}
    sys0 = system_cpu_s()
    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            client_loop(args.host, args.port, req, marker, want_marker, stats, stop, budget, c, True)
            for c in conns
        )
    )
    elapsed = time.perf_counter() - t0
    cpu1 = {name: cpu_sample(pid) for name, pid in pids.items()}
    sys1 = system_cpu_s()
    for c in conns:
        if c[0] is not None:
            c[0][1].close()
    out = summarize(stats, elapsed, cpu0, cpu1)
    busy = (sys1[0] - sys0[0]) / elapsed if elapsed > 0 else 0.0
    ours = sum(c["clock_s"] for c in out["cpu"].values()) / elapsed if elapsed > 0 else 0.0
    # Machine-wide CPU in use (cores), and the part used by processes other than ours: noise.
    out["machine"] = {"busy_cores": busy, "other_cores": max(0.0, busy - ours)}
    out.update(
        target=args.target,
        mode=args.mode,
        concurrency=args.concurrency,
        request_bytes=len(req),
        warmup_requests=warm.completed,
        warmup_errors=warm.errors,
    )
    if warm.errors and not stats.errors:
        out["error_samples"] = warm.error_samples
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="closed-loop keep-alive load generator")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--target", choices=("gateway", "gateway-openai", "direct"), required=True)
    ap.add_argument("--mode", choices=MODES, required=True)
    ap.add_argument("-c", "--concurrency", type=int, default=1)
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds (ignored with --requests)")
    ap.add_argument("--requests", type=int, default=0, help="measure exactly this many requests instead")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="hard bound in --requests mode")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds on the same connections")
    ap.add_argument("--api-key", default="sk-gw-bench-0000")
    ap.add_argument("--body-bytes", type=int, default=0, help="request body size (0: the ~46 KB default)")
    ap.add_argument("--cpu-pid", action="append", default=[], metavar="NAME=PID")
    args = ap.parse_args()
    result = asyncio.run(run(args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
