"""What the gateway knows of common backend models: output-token limits (longest prefix wins)
and which models reason (take ``reasoning_effort`` and ``max_completion_tokens``).

Claude Code asks for max_tokens 32000-64000; most chat-completions models reject more than their
own limit, so the gateway clamps to it when the provider has no explicit cap.
"""

from __future__ import annotations

OUTPUT_LIMITS: dict[str, int] = {
    "gpt-4o": 16_384,
    "gpt-4o-mini": 16_384,
    "gpt-4.1": 32_768,
    "gpt-4-turbo": 4_096,
    "gpt-3.5": 4_096,
    "gpt-5": 128_000,
    "o1": 100_000,
    "o3": 100_000,
    "o4-mini": 100_000,
    "deepseek-chat": 8_192,
    "deepseek-reasoner": 64_000,
    "gemini-2.0-flash": 8_192,
    "gemini-2.5": 65_536,
    "mistral-large": 32_768,
    "codestral": 32_768,
    "llama-3": 8_192,
    "qwen2.5": 8_192,
}


def output_limit(model: str) -> int | None:
    name = model.lower().rpartition("/")[2]  # "openai/gpt-4o" (OpenRouter) -> "gpt-4o"
    best: tuple[int, int] | None = None
    for prefix, limit in OUTPUT_LIMITS.items():
        if name.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), limit)
    return best[1] if best else None


# OpenAI-style reasoning models: they take reasoning_effort and max_completion_tokens, while other
# chat models answer 400 to reasoning_effort.
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "gpt-oss", "gemini-2.5", "gemini-3", "deepseek-reasoner", "qwq",
                      "grok-3-mini", "grok-4")


def is_reasoning_model(model: str) -> bool:
    name = model.lower().rpartition("/")[2]
    return name.startswith(REASONING_PREFIXES)
