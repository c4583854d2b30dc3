"""The Anthropic SSE stream encoder and the raw-bytes choice it makes for the upstream parser."""

from __future__ import annotations

import pytest

from gateway.inbound import OpenAIChunks
from gateway.inbound.bedrock import BedrockEventStream
from gateway.inbound.encoders import COMMENT_PING, AnthropicSSE
from providers.adapters.base import StreamEvent
from providers.eventstream import event_parser_for
from providers.sse import PING

RAW = b'event: content_block_stop\ndata: {"type":"content_block_stop",  "index":0}\n\n'


def test_anthropic_sse_forwards_passthrough_bytes_exactly():
    (event,) = event_parser_for("anthropic", raw=True).feed(RAW)
    assert AnthropicSSE().encode([event]) == RAW  # the upstream's spacing kept: no re-encode


def test_anthropic_sse_encodes_translated_events():
    event = StreamEvent("message_stop", {"type": "message_stop"})
    assert AnthropicSSE().encode([event, event]) == b'event: message_stop\ndata: {"type":"message_stop"}\n\n' * 2


def test_anthropic_sse_keepalive_is_a_comment_until_events_were_sent():
    assert AnthropicSSE().keepalive(False) == COMMENT_PING
    assert AnthropicSSE().keepalive(True) == PING
    assert AnthropicSSE().end() == b""


@pytest.mark.parametrize(("encoder", "keeps_raw"), [(AnthropicSSE(), True), (BedrockEventStream(), False),
                                                    (OpenAIChunks(None), False)], ids=["anthropic", "bedrock", "openai"])
def test_upstream_parser_keeps_raw_bytes_only_for_an_encoder_that_uses_them(encoder, keeps_raw):
    (event,) = event_parser_for("anthropic", raw=encoder.wants_raw).feed(RAW)
    assert (event.raw is not None) == keeps_raw
    assert event.data == {"type": "content_block_stop", "index": 0}
