"""The OpenAI chat-completions request (``POST /v1/chat/completions``) as pydantic TypedDicts.

As for the Messages schema: a check of the decoded body, strict about the types of the fields
the translator reads, lenient about everything else (OpenAI adds fields often; unknown message
roles and part types are left to the translator, which names what it cannot express).
"""

from __future__ import annotations

from typing import Annotated, Any, Required

from pydantic import Discriminator, Field, Tag, TypeAdapter, with_config
from typing_extensions import TypedDict

from gateway.validation.messages import LENIENT, StringOrObject, string_or_list, tagged


@with_config(LENIENT)
class OtherRole(TypedDict, total=False):
    role: Required[str]


@with_config(LENIENT)
class TextPart(TypedDict, total=False):
    type: Required[str]
    text: Required[str]


@with_config(LENIENT)
class RefusalPart(TypedDict, total=False):
    type: Required[str]
    refusal: Required[str]


@with_config(LENIENT)
class ImageUrl(TypedDict, total=False):
    url: Required[str]
    detail: str | None


def _str_or_dict(value: Any) -> str:
    return "~dict" if isinstance(value, dict) else "~str"


@with_config(LENIENT)
class ImagePart(TypedDict, total=False):
    type: Required[str]
    # an object by the spec; the bare URL string some clients send is accepted too
    image_url: Required[Annotated[Annotated[ImageUrl, Tag("~dict")] | Annotated[str, Tag("~str")],
                                  Discriminator(_str_or_dict)]]


@with_config(LENIENT)
class FileSpec(TypedDict, total=False):
    file_data: str | None
    file_id: str | None
    filename: str | None


@with_config(LENIENT)
class FilePart(TypedDict, total=False):
    type: Required[str]
    file: Required[FileSpec]


TextParts = string_or_list(tagged({"text": TextPart, "refusal": RefusalPart}))
UserParts = string_or_list(tagged({"text": TextPart, "image_url": ImagePart, "file": FilePart}))


@with_config(LENIENT)
class FunctionCall(TypedDict, total=False):
    name: Required[str]
    arguments: Any  # a JSON string by the spec; objects and garbage are kept verbatim by the translator


@with_config(LENIENT)
class ToolCall(TypedDict, total=False):
    id: Required[str]
    type: str
    function: Required[FunctionCall]


@with_config(LENIENT)
class SystemMessage(TypedDict, total=False):
    role: Required[str]
    content: Required[TextParts]  # type: ignore[valid-type]
    name: str | None


@with_config(LENIENT)
class UserMessage(TypedDict, total=False):
    role: Required[str]
    content: Required[UserParts]  # type: ignore[valid-type]
    name: str | None


@with_config(LENIENT)
class AssistantMessage(TypedDict, total=False):
    role: Required[str]
    content: TextParts | None  # type: ignore[valid-type]
    tool_calls: list[ToolCall] | None
    reasoning_content: str | None


@with_config(LENIENT)
class ToolMessage(TypedDict, total=False):
    role: Required[str]
    content: Required[TextParts]  # type: ignore[valid-type]
    tool_call_id: Required[str]


ChatMessage = tagged({"system": SystemMessage, "developer": SystemMessage, "user": UserMessage,
                      "assistant": AssistantMessage, "tool": ToolMessage}, key="role", other=OtherRole)


@with_config(LENIENT)
class Function(TypedDict, total=False):
    name: Required[str]
    description: str | None
    parameters: dict[str, Any] | None
    strict: bool | None


@with_config(LENIENT)
class ChatTool(TypedDict, total=False):
    type: Required[str]
    function: Function


@with_config(LENIENT)
class StreamOptions(TypedDict, total=False):
    include_usage: bool | None


@with_config(LENIENT)
class ChatRequest(TypedDict, total=False):
    model: Required[Annotated[str, Field(min_length=1)]]
    messages: Required[list[ChatMessage]]  # type: ignore[valid-type]
    max_tokens: int | None
    max_completion_tokens: int | None
    temperature: float | None
    top_p: float | None
    n: int | None
    stop: string_or_list(str) | None  # type: ignore[valid-type]
    stream: bool | None
    stream_options: StreamOptions | None
    tools: list[ChatTool] | None
    tool_choice: StringOrObject | None
    parallel_tool_calls: bool | None
    user: str | None
    safety_identifier: str | None
    reasoning_effort: str | None


CHAT = TypeAdapter(ChatRequest)

__all__ = ["CHAT"]
