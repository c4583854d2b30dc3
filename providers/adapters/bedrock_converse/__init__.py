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

from providers.adapters.base import AdapterError, ChatRequest, ChatResponse, Target, UpstreamRequest
from providers.adapters.bedrock import BedrockAdapter
from providers.adapters.bedrock_converse.request import translate_request
from providers.adapters.bedrock_converse.response import translate_response
from providers.adapters.bedrock_converse.stream import ConverseStreamTranslator

__all__ = ["BedrockConverseAdapter", "ConverseStreamTranslator"]


class BedrockConverseAdapter:
    kind: ClassVar[str] = "bedrock_converse"
    signing: ClassVar[str] = "sigv4"           # client.py signs with SigV4 (service "bedrock")
    stream_framing: ClassVar[str] = "eventstream-typed"  # events named by :event-type, JSON payloads

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        return translate_request(req, target)

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return translate_response(status, body, up)

    def stream_translator(self, up: UpstreamRequest) -> ConverseStreamTranslator:
        return ConverseStreamTranslator(up)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        return BedrockAdapter().classify_error(status, body, headers)
