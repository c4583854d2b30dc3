"""The Anthropic Messages request as Anthropic documents it, as pydantic TypedDicts.

Used only to *check* a decoded body (the gateway keeps using the dict it parsed): wrong types of
known fields are refused; unknown fields and unknown block, tool, source or thinking types are
accepted, because Claude Code sends new ones before any gateway knows them (WIRE.md). Strict
mode: ``"5"`` is not an integer and ``1`` is not a boolean, since the dict is used as sent.

Unions are tagged by a function (``tagged``) rather than tried member by member, so an error
names one path (``messages.0.content.0.text``) instead of one per member. Tag names start with
``~`` so ``validation.body`` can drop them from the error path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Required

from pydantic import ConfigDict, Discriminator, Field, Tag, TypeAdapter, with_config
from typing_extensions import TypedDict

LENIENT = ConfigDict(extra="allow", strict=True)
OTHER = "~other"


def tag_of(known: frozenset[str], *, key: str = "type", missing: str | None = None) -> Callable[[Any], str]:
    """The union tag of a block-like value: ``~<type>`` for known types, else ``~other`` (whose
    schema still requires ``type`` to be a string, and the value to be an object)."""

    tags = {name: f"~{name}" for name in known}  # one dict lookup per block (pydantic calls this for each)

    def pick(value: Any) -> str:
        if type(value) is not dict and not isinstance(value, Mapping):
            return OTHER
        kind = value.get(key, missing)
        return tags.get(kind, OTHER) if isinstance(kind, str) else OTHER

    return pick


def tagged(members: dict[str, Any], *, key: str = "type", missing: str | None = None, other: Any = None) -> Any:
    """A union of ``members`` (type name -> schema) chosen by the value's ``key``; anything else
    is checked against ``other`` (by default: an object with a string ``type``)."""
    choices = [Annotated[schema, Tag(f"~{name}")] for name, schema in members.items()]
    choices.append(Annotated[other if other is not None else OtherBlock, Tag(OTHER)])
    pick = tag_of(frozenset(members), key=key, missing=missing)
    return Annotated[_union(choices), Discriminator(pick)]


def _union(choices: list[Any]) -> Any:
    union = choices[0]
    for choice in choices[1:]:
        union = union | choice
    return union


@with_config(LENIENT)
class OtherBlock(TypedDict, total=False):
    type: Required[str]


@with_config(LENIENT)
class CacheControl(TypedDict, total=False):
    type: Required[str]
    ttl: str


@with_config(LENIENT)
class TextBlock(TypedDict, total=False):
    type: Required[str]
    text: Required[str]
    cache_control: CacheControl | None
    citations: list[dict[str, Any]] | None


@with_config(LENIENT)
class Base64Source(TypedDict, total=False):
    type: Required[str]
    media_type: Required[str]
    data: Required[str]


@with_config(LENIENT)
class UrlSource(TypedDict, total=False):
    type: Required[str]
    url: Required[str]


@with_config(LENIENT)
class FileSource(TypedDict, total=False):
    type: Required[str]
    file_id: Required[str]


@with_config(LENIENT)
class ContentSource(TypedDict, total=False):
    type: Required[str]
    content: Required[str | list[dict[str, Any]]]


ImageSource = tagged({"base64": Base64Source, "url": UrlSource, "file": FileSource})
DocumentSource = tagged({"base64": Base64Source, "text": Base64Source, "url": UrlSource,
                         "file": FileSource, "content": ContentSource})


@with_config(LENIENT)
class ImageBlock(TypedDict, total=False):
    type: Required[str]
    source: Required[ImageSource]  # type: ignore[valid-type]
    cache_control: CacheControl | None


@with_config(LENIENT)
class DocumentBlock(TypedDict, total=False):
    type: Required[str]
    source: Required[DocumentSource]  # type: ignore[valid-type]
    title: str | None
    context: str | None
    citations: dict[str, Any] | None
    cache_control: CacheControl | None


@with_config(LENIENT)
class SearchResultBlock(TypedDict, total=False):
    type: Required[str]
    source: Required[str]
    title: Required[str]
    content: Required[list[TextBlock]]
    cache_control: CacheControl | None


@with_config(LENIENT)
class ToolUseBlock(TypedDict, total=False):
    type: Required[str]
    id: Required[str]
    name: Required[str]
    input: Required[dict[str, Any]]
    cache_control: CacheControl | None


@with_config(LENIENT)
class ServerToolUseBlock(TypedDict, total=False):
    type: Required[str]
    id: Required[str]
    name: Required[str]
    input: dict[str, Any]


@with_config(LENIENT)
class ServerToolResultBlock(TypedDict, total=False):
    type: Required[str]
    tool_use_id: Required[str]


# what a tool_result may hold (no nested tool_result, so the schema is not recursive)
ResultPart = tagged({"text": TextBlock, "image": ImageBlock, "document": DocumentBlock,
                     "search_result": SearchResultBlock})


def _by_python_type(value: Any) -> str | None:
    return "~list" if isinstance(value, list) else "~str" if isinstance(value, str) else None


def string_or_list(item: Any) -> Any:
    """``str | list[item]`` tagged by the value's Python type: one error path, either way."""
    return Annotated[Annotated[str, Tag("~str")] | Annotated[list[item], Tag("~list")],
                     Discriminator(_by_python_type, custom_error_type="string_or_list_type",
                                   custom_error_message="Input should be a valid string or list")]


def _str_or_dict(value: Any) -> str:
    return "~dict" if isinstance(value, dict) else "~str"


# ``container``: an id, or an object (id and skills) in newer API versions
StringOrObject = Annotated[Annotated[str, Tag("~str")] | Annotated[dict[str, Any], Tag("~dict")],
                           Discriminator(_str_or_dict)]


@with_config(LENIENT)
class ToolResultBlock(TypedDict, total=False):
    type: Required[str]
    tool_use_id: Required[str]
    content: string_or_list(ResultPart)  # type: ignore[valid-type]
    is_error: bool | None
    cache_control: CacheControl | None


@with_config(LENIENT)
class ThinkingBlock(TypedDict, total=False):
    type: Required[str]
    thinking: Required[str]
    signature: str


@with_config(LENIENT)
class RedactedThinkingBlock(TypedDict, total=False):
    type: Required[str]
    data: Required[str]


ContentBlock = tagged({
    "text": TextBlock, "image": ImageBlock, "document": DocumentBlock, "search_result": SearchResultBlock,
    "tool_use": ToolUseBlock, "tool_result": ToolResultBlock, "thinking": ThinkingBlock,
    "redacted_thinking": RedactedThinkingBlock, "server_tool_use": ServerToolUseBlock,
    "mcp_tool_use": ServerToolUseBlock, "web_search_tool_result": ServerToolResultBlock,
    "web_fetch_tool_result": ServerToolResultBlock, "code_execution_tool_result": ServerToolResultBlock,
    "mcp_tool_result": ServerToolResultBlock,
})


@with_config(LENIENT)
class Message(TypedDict, total=False):
    role: Required[Literal["user", "assistant", "system"]]
    content: Required[string_or_list(ContentBlock)]  # type: ignore[valid-type]


@with_config(LENIENT)
class CustomTool(TypedDict, total=False):
    type: str
    name: Required[str]
    description: str
    input_schema: dict[str, Any]  # Anthropic requires it; backends here default it, so not refused
    cache_control: CacheControl | None


@with_config(LENIENT)
class ServerTool(TypedDict, total=False):
    """web_search_20250305, bash_20250124, text_editor_…, mcp_toolset…: no input_schema."""

    type: Required[str]
    name: str
    cache_control: CacheControl | None


# A tool without ``type`` is a custom tool; any other type is a server tool.
Tool = tagged({"custom": CustomTool}, missing="custom", other=ServerTool)


@with_config(LENIENT)
class NamedToolChoice(TypedDict, total=False):
    type: Required[str]
    name: Required[str]
    disable_parallel_tool_use: bool


@with_config(LENIENT)
class ToolChoiceMode(TypedDict, total=False):
    type: Required[str]
    disable_parallel_tool_use: bool


ToolChoice = tagged({"auto": ToolChoiceMode, "any": ToolChoiceMode, "none": ToolChoiceMode,
                     "tool": NamedToolChoice})


@with_config(LENIENT)
class ThinkingEnabled(TypedDict, total=False):
    type: Required[str]
    budget_tokens: Required[int]


Thinking = tagged({"enabled": ThinkingEnabled})


@with_config(LENIENT)
class Metadata(TypedDict, total=False):
    user_id: str | None


@with_config(LENIENT)
class McpServer(TypedDict, total=False):
    type: Required[str]
    url: Required[str]
    name: Required[str]
    authorization_token: str | None


@with_config(LENIENT)
class OutputConfig(TypedDict, total=False):
    effort: str | None
    format: dict[str, Any] | None


@with_config(LENIENT)
class CountTokensRequest(TypedDict, total=False):
    """``POST /v1/messages/count_tokens``: the Messages request without max_tokens."""

    model: Required[Annotated[str, Field(min_length=1)]]
    messages: Required[list[Message]]
    system: string_or_list(ContentBlock)  # type: ignore[valid-type]
    tools: list[Tool] | None  # type: ignore[valid-type]
    tool_choice: ToolChoice | None  # type: ignore[valid-type]
    thinking: Thinking | None  # type: ignore[valid-type]
    mcp_servers: list[McpServer] | None
    output_config: OutputConfig | None
    context_management: dict[str, Any] | None


@with_config(LENIENT)
class MessagesRequest(CountTokensRequest, total=False):
    max_tokens: Required[Annotated[int, Field(ge=1)]]
    stream: bool | None
    stop_sequences: list[str] | None
    temperature: float | None
    top_p: float | None
    top_k: int | None
    metadata: Metadata | None
    service_tier: str | None
    container: StringOrObject | None


MESSAGES = TypeAdapter(MessagesRequest)
COUNT_TOKENS = TypeAdapter(CountTokensRequest)

__all__ = ["COUNT_TOKENS", "LENIENT", "MESSAGES", "StringOrObject", "string_or_list", "tagged"]
