"""AWS Bedrock's Converse API (``/model/{id}/converse`` and ``/converse-stream``): every Bedrock
model family (Nova, Llama, Qwen, DeepSeek, Mistral, gpt-oss, Claude) through one message shape.

``request`` translates the Anthropic request, ``stream`` the ConverseStream events (decoded from
the AWS event stream by ``providers/eventstream.py``), ``response`` a complete reply; family
differences (thinking fields, reasoning in history) are data in ``common.FAMILIES``. Errors are
Bedrock's own (``x-amzn-ErrorType``), read as the ``bedrock`` kind reads them. SigV4 signing is
applied by ``providers/client.py`` because ``signing`` says so: this package never sees credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from providers.adapters.base import (
    AdapterError,
    ChatRequest,
    ChatResponse,
    Target,
    UpstreamRequest,
    probe_chat,
)
from providers.adapters.bedrock import REGION_PREFIX, BedrockAdapter
from providers.adapters.bedrock_converse.request import translate_request
from providers.adapters.bedrock_converse.response import translate_response
from providers.adapters.bedrock_converse.stream import ConverseStreamTranslator
from providers.adapters.spec import (
    EVENTSTREAM_TYPED,
    GENERATION,
    PROBE_MODEL,
    REGION,
    SIGV4_BEDROCK,
    KindSpec,
    Option,
)

__all__ = ["BedrockConverseAdapter", "ConverseStreamTranslator"]


class BedrockConverseAdapter:
    kind: ClassVar[str] = "bedrock_converse"
    spec: ClassVar[KindSpec] = KindSpec(
        label="AWS Bedrock Converse API (Nova, Llama, Qwen, DeepSeek, Mistral...; SigV4)",
        auth=SIGV4_BEDROCK,
        stream_framing=EVENTSTREAM_TYPED,  # events named by :event-type, JSON payloads
        options={**GENERATION, "model_map": Option("str_map", "model name -> Bedrock model id"),
                 "region_prefix": REGION_PREFIX, "region": REGION, "probe_model": PROBE_MODEL},
        # Nova Micro: Bedrock's cheapest text model; set probe_model where it is not enabled
        probe_model="amazon.nova-micro-v1:0",
    )

    def probe(self, target: Target) -> UpstreamRequest:
        """A one-token Converse call of ``target.model`` (see BedrockAdapter.probe for why)."""
        return translate_request(probe_chat(target.model), target)

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        return translate_request(req, target)

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return translate_response(status, body, up)

    def stream_translator(self, up: UpstreamRequest) -> ConverseStreamTranslator:
        return ConverseStreamTranslator(up)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        return BedrockAdapter().classify_error(status, body, headers)
