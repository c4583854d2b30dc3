"""In-process micro-benchmarks of the gateway's pure request-path code (no server, no Django).

Times, per call, on the same bodies the load test sends: JSON parse of the inbound body, the
Anthropic -> OpenAI request translation, the OpenAI -> Anthropic response translation, the
20-chunk stream (SSE parse + translate + encode), each client dialect's per-chunk encoding, and
the count_tokens estimate of the ~200 KB body.
The difference between these and the CPU per request measured by run.py is framework cost.

    .venv/bin/python bench/micro.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import orjson  # noqa: E402
from fake_upstream import STREAM_FRAMES, completion_body  # noqa: E402
from payloads import anthropic_body, count_tokens_body, dumps  # noqa: E402


def per_call_us(fn: Callable[[], Any], budget_s: float = 0.4) -> float:
    """Best of 5 rounds of the mean time per call, in microseconds."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt > budget_s / 5 or n > 1_000_000:
            break
        n *= 2
    best = dt / n
    for _ in range(4):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def stream_dialects(adapter: Any, up: Any, chunks: list[bytes]) -> list[tuple[str, float]]:
    """Per paced chunk, after the upstream translator: each client dialect's encoding, encoded
    once from the events (now) against the old way (Anthropic SSE bytes parsed again by the
    OpenAI / Bedrock endpoint and re-encoded); and the Anthropic passthrough with and without
    the upstream's raw bytes."""
    from gateway.inbound import AnthropicToOpenAIStream, OpenAIChunks
    from gateway.inbound.bedrock import BedrockEventStream
    from gateway.inbound.encoders import AnthropicSSE
    from providers.sse import SSEParser, encode_many

    parser, tr = SSEParser(), adapter.stream_translator(up)
    batches = [b for b in ([e2 for e in parser.feed(c) for e2 in tr.feed(e)] for c in chunks) if b]
    n = len(batches)

    def once(make: Callable[[], Any]) -> None:
        enc = make()
        for batch in batches:
            enc.encode(batch)
        enc.end()

    def reparsed(make: Callable[[], Any]) -> None:  # the old relay: SSE bytes -> parse -> encode
        enc, again = make(), SSEParser()
        for batch in batches:
            events = again.feed(encode_many(batch))
            if events:
                enc.encode(events)
        enc.end()

    def openai() -> OpenAIChunks:
        return OpenAIChunks(AnthropicToOpenAIStream("m", include_usage=True, created=1))

    rows = [("anthropic SSE", partial(once, AnthropicSSE)), ("openai, encoded once", partial(once, openai)),
            ("openai, re-parsed (before)", partial(reparsed, openai)),
            ("bedrock, encoded once", partial(once, BedrockEventStream)),
            ("bedrock, re-parsed (before)", partial(reparsed, BedrockEventStream))]
    out = [(f"per chunk: {name}", per_call_us(fn) / n) for name, fn in rows]
    return out + passthrough_rows(b"".join(encode_many(b) for b in batches), n)


def passthrough_rows(sse: bytes, n: int) -> list[tuple[str, float]]:
    """An Anthropic upstream's stream to an Anthropic client: raw bytes kept, or re-encoded."""
    from gateway.inbound.encoders import AnthropicSSE
    from providers.adapters.anthropic import PassthroughStream
    from providers.sse import SSEParser

    events = [e + b"\n\n" for e in sse.split(b"\n\n")[:-1]]

    def passthrough(raw: bool) -> None:
        p, t, enc = SSEParser(keep_raw=raw), PassthroughStream(), AnthropicSSE()
        for piece in events:
            out = [e2 for e in p.feed(piece) for e2 in t.feed(e)]
            if out:
                enc.encode(out)

    return [(f"per chunk: anthropic passthrough, {name}", per_call_us(partial(passthrough, raw)) / n)
            for name, raw in (("raw bytes kept", True), ("re-encoded", False))]


def main() -> None:
    from gateway.token_count import estimate_input_tokens
    from providers.adapters.base import ChatRequest, Target
    from providers.adapters.openai_compat import OpenAICompatAdapter
    from providers.sse import SSEParser, encode_many

    adapter = OpenAICompatAdapter()
    target = Target(
        kind="openai_compat", base_url="http://127.0.0.1:1/v1", model="gpt-bench", provider="openai"
    )
    results: list[tuple[str, float]] = []

    for stream in (False, True):
        raw = dumps(anthropic_body(stream))
        body = orjson.loads(raw)
        req = ChatRequest(body=body, raw=raw, beta=("claude-code-20250219",))
        label = "stream" if stream else "non-stream"
        results.append(
            (
                f"orjson.loads inbound body ({len(raw) // 1024} KB, {label})",
                per_call_us(partial(orjson.loads, raw)),
            )
        )
        results.append(
            (f"translate_request ({label})", per_call_us(partial(adapter.translate_request, req, target)))
        )

    up = adapter.translate_request(ChatRequest(body=anthropic_body(False)), target)
    reply = completion_body()

    def response_path() -> None:
        out = adapter.translate_response(200, orjson.loads(reply), up)
        orjson.dumps(out.body)

    results.append(("loads + translate_response + dumps (non-stream reply)", per_call_us(response_path)))

    up_s = adapter.translate_request(ChatRequest(body=anthropic_body(True)), target)
    # The SSE payload of each chunked frame ("<hex>\r\n<data>\r\n").
    chunks = [f.split(b"\r\n", 1)[1][:-2] for f in STREAM_FRAMES]

    def stream_path(separate: bool) -> None:
        parser = SSEParser()
        tr = adapter.stream_translator(up_s)
        if separate:
            for c in chunks:
                out = [e2 for e in parser.feed(c) for e2 in tr.feed(e)]
                if out:
                    encode_many(out)
        else:
            out = [e2 for e in parser.feed(b"".join(chunks)) for e2 in tr.feed(e)]
            encode_many(out)
        tail = [e2 for e in parser.flush() for e2 in tr.feed(e)] + tr.flush()
        encode_many(tail)

    results.append(
        ("stream: parse+translate+encode 20+1 chunks, one read", per_call_us(lambda: stream_path(False)))
    )
    results.append(
        ("stream: parse+translate+encode, one read per chunk", per_call_us(lambda: stream_path(True)))
    )

    results.extend(stream_dialects(adapter, up_s, chunks))

    big_raw = dumps(count_tokens_body())
    big = orjson.loads(big_raw)
    results.append(
        (
            f"count_tokens: orjson.loads ({len(big_raw) // 1024} KB)",
            per_call_us(lambda: orjson.loads(big_raw)),
        )
    )
    results.append(("count_tokens: estimate_input_tokens", per_call_us(lambda: estimate_input_tokens(big))))
    print(f"count_tokens estimate for the ~200 KB body: {estimate_input_tokens(big)} tokens")

    width = max(len(n) for n, _ in results)
    for name, us in results:
        print(f"  {name:{width}s} {us / 1000:8.3f} ms")


if __name__ == "__main__":
    main()
