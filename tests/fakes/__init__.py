"""Fake upstreams: real loopback HTTP servers speaking the OpenAI, Anthropic and Gemini wire formats (Gemini on Vertex AI too).

    from tests.fakes import FakeOpenAI, Reply, openai_text_chunks
    with FakeOpenAI() as up:
        up.enqueue(Reply.sse(openai_text_chunks("hi")))
        ...  # point the gateway at up.base_url
        assert up.requests[0].json["stream"] is True
"""

from tests.fakes.anthropic_server import (
    FakeAnthropic,
    anthropic_error,
    anthropic_message,
    anthropic_stream_events,
    anthropic_text_reply,
)
from tests.fakes.bedrock_converse_server import (
    FakeBedrockConverse,
    converse_reply,
    converse_stream,
    converse_stream_events,
)
from tests.fakes.gemini_server import (
    FakeGemini,
    gemini_error,
    gemini_response,
    gemini_stream,
    gemini_stream_chunks,
)
from tests.fakes.gemini_vertex_server import FakeGeminiVertex
from tests.fakes.openai_server import (
    FakeOpenAI,
    openai_completion,
    openai_text_chunks,
    openai_text_reply,
    openai_tool_call_chunks,
)
from tests.fakes.responses_server import (
    FakeResponses,
    response_object,
    responses_events,
    responses_function_call,
    responses_message,
    responses_reasoning,
    responses_reply,
)
from tests.fakes.server import FakeServer, Recorded, Reply

__all__ = [
    "FakeAnthropic",
    "FakeBedrockConverse",
    "FakeGemini",
    "FakeGeminiVertex",
    "FakeOpenAI",
    "FakeResponses",
    "FakeServer",
    "Recorded",
    "Reply",
    "anthropic_error",
    "anthropic_message",
    "anthropic_stream_events",
    "anthropic_text_reply",
    "converse_reply",
    "converse_stream",
    "converse_stream_events",
    "gemini_error",
    "gemini_response",
    "gemini_stream",
    "gemini_stream_chunks",
    "openai_completion",
    "openai_text_chunks",
    "openai_text_reply",
    "openai_tool_call_chunks",
    "response_object",
    "responses_events",
    "responses_function_call",
    "responses_message",
    "responses_reasoning",
    "responses_reply",
]
