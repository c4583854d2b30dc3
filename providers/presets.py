"""Presets for OpenAI-compatible services (and the native kinds): data, not modules.

A preset fills a Provider's kind, base URL, auth style, headers and quirks (any Target field, see
providers/adapters/base.py). Placeholders like ``{resource}`` in a base URL are for the admin to
fill; ``${VAR}`` anywhere is read from the environment at run time.
"""

from __future__ import annotations

from typing import Any

GEMINI_SCHEMA_DROP = [
    "$schema", "additionalProperties", "propertyNames", "exclusiveMinimum", "exclusiveMaximum", "const",
    "patternProperties", "unevaluatedProperties", "$id", "$comment", "examples", "default",
]

PRESETS: dict[str, dict[str, Any]] = {
    "openai": {
        "label": "OpenAI",
        "kind": "openai_compat",
        "base_url": "https://api.openai.com/v1",
        "auth_type": "api_key",
        # only reasoning models (o-series, gpt-5) take reasoning_effort / max_completion_tokens
        "options": {"reasoning_effort": "auto", "reasoning_model": "auto"},
    },
    "openai_responses": {
        "label": "OpenAI Responses API (gpt-5 codex and reasoning models; reasoning kept across turns)",
        "kind": "openai_responses",
        "base_url": "https://api.openai.com/v1",
        "auth_type": "api_key",
        # reasoning models get reasoning {effort, summary} and their encrypted items back each turn
        "options": {"reasoning_effort": "auto"},
    },
    "azure_openai": {
        "label": "Azure OpenAI (deployment URL)",
        "kind": "openai_compat",
        "base_url": "https://{resource}.openai.azure.com/openai/deployments/{deployment}",
        "auth_type": "header",
        "auth_header": "api-key",
        "options": {"path": "/chat/completions?api-version=2024-10-21", "reasoning_effort": "auto",
                    "reasoning_model": "auto"},
    },
    "openrouter": {
        "label": "OpenRouter",
        "kind": "openai_compat",
        "base_url": "https://openrouter.ai/api/v1",
        "auth_type": "api_key",
        "headers": {"HTTP-Referer": "https://github.com/claude-code-gateway", "X-Title": "Claude Code gateway"},
        "options": {"reasoning_effort": True},
    },
    "gemini": {
        "label": "Google Gemini (OpenAI-compatible endpoint; API key or Vertex bearer token)",
        "kind": "openai_compat",
        "base_url": "https://generativelanguage.googleapis.com/v1beta/openai",
        "auth_type": "api_key",
        "options": {
            "schema_drop_keywords": GEMINI_SCHEMA_DROP,
            "schema_flatten_anyof": True,
            "drop_params": ["top_k"],
            "reasoning_effort": "auto",
            "user_max_len": 0,
        },
    },
    "nvidia_nim": {
        "label": "NVIDIA NIM",
        "kind": "openai_compat",
        "base_url": "https://integrate.api.nvidia.com/v1",
        "auth_type": "api_key",
        "options": {
            "drop_params": ["top_k"],
            # reasoning switch for NIM reasoning models, as extra body
            "extra_body": {"chat_template_kwargs": {"thinking": True}},
        },
    },
    "ollama": {
        "label": "Ollama (local, no key)",
        "kind": "openai_compat",
        "base_url": "http://127.0.0.1:11434/v1",
        "auth_type": "none",
        "options": {"extra_body": {"options": {"num_ctx": 32768}}, "user_max_len": 0},
    },
    "vllm": {
        "label": "vLLM",
        "kind": "openai_compat",
        "base_url": "http://127.0.0.1:8000/v1",
        "auth_type": "none",
        "options": {},
    },
    "deepseek": {
        "label": "DeepSeek",
        "kind": "openai_compat",
        "base_url": "https://api.deepseek.com/v1",
        "auth_type": "api_key",
        "max_tokens_cap": 8192,
        "options": {"reasoning_history": True, "drop_params": ["top_k"]},
    },
    "mistral": {
        "label": "Mistral",
        "kind": "openai_compat",
        "base_url": "https://api.mistral.ai/v1",
        "auth_type": "api_key",
        "options": {"tool_id_max": 9, "tool_id_alnum": True, "drop_params": ["top_k"]},
    },
    "anthropic": {
        "label": "Anthropic (API key)",
        "kind": "anthropic",
        "base_url": "https://api.anthropic.com",
        "auth_type": "api_key",
        "options": {},
    },
    "anthropic_oauth": {
        "label": "Anthropic (Claude subscription OAuth token)",
        "kind": "anthropic",
        "base_url": "https://api.anthropic.com",
        "auth_type": "oauth",
        "options": {},
    },
    "bedrock": {
        "label": "AWS Bedrock",
        "kind": "bedrock",
        "base_url": "https://bedrock-runtime.us-east-1.amazonaws.com",
        "auth_type": "api_key",
        "options": {"region": "us-east-1", "region_prefix": "us"},
    },
    "bedrock_converse": {
        "label": "AWS Bedrock Converse (Nova, Llama, Qwen, DeepSeek, Mistral...)",
        "kind": "bedrock_converse",
        "base_url": "https://bedrock-runtime.us-east-1.amazonaws.com",
        "auth_type": "api_key",  # AWS keys JSON (SigV4), a Bedrock API key (Bearer), or none stored: the AWS chain
        "options": {"region": "us-east-1"},
    },
    "gemini_native": {
        "label": "Google Gemini (native API; keeps thought signatures across tool turns)",
        "kind": "gemini",
        "base_url": "https://generativelanguage.googleapis.com",
        "auth_type": "api_key",  # sent as x-goog-api-key (the adapter's auth_header)
        "options": {},
    },
    "gemini_vertex": {
        "label": "Google Gemini on Vertex AI (native API; service-account JSON or ADC)",
        "kind": "gemini_vertex",
        # Google's endpoint: the adapter picks the host for options.region; "global" serves every
        # Gemini model, the Gemini 3 previews only there
        "base_url": "https://aiplatform.googleapis.com",
        "auth_type": "api_key",  # a service-account key (or none: ADC) -> minted Google OAuth tokens
        "options": {"project": "", "region": "global"},
    },
    "vertex": {
        "label": "Google Vertex AI (Anthropic models; service-account JSON or ADC)",
        "kind": "vertex",
        # Google's endpoint: the adapter picks the host for options.region ({region}-aiplatform...)
        "base_url": "https://aiplatform.googleapis.com",
        "auth_type": "api_key",
        "options": {"project": "", "region": "global"},
    },
}


def preset_choices() -> list[tuple[str, str]]:
    return [("", "(none)")] + [(name, spec["label"]) for name, spec in PRESETS.items()]


def preset_fields(name: str) -> dict[str, Any]:
    """The Provider field values a preset sets (a copy; options merged by the caller)."""
    spec = PRESETS[name]
    return {
        "kind": spec["kind"],
        "base_url": spec["base_url"],
        "auth_type": spec.get("auth_type", "api_key"),
        "auth_header": spec.get("auth_header", ""),
        "headers": dict(spec.get("headers", {})),
        "options": dict(spec.get("options", {})),
        "max_tokens_cap": spec.get("max_tokens_cap"),
    }
