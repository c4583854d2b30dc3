"""What a backend kind decides besides translation, as data on its adapter entry.

Every adapter in ``REGISTRY`` carries a ``spec: ClassVar[KindSpec]`` (label, how client.py
authenticates it, its stream framing, the options it takes and their types, what ``init`` offers)
and a ``probe(target)`` method (the health check's request). The layers above ask the entry
instead of comparing kind strings: providers/client.py (auth), providers/probes.py (probe),
providers/targets.py (options), providers/models.py (labels, option validation), the init command.
Pure: no Django, no settings, no network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# --- authentication ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """How providers/client.py authenticates a kind (adapters never see the credential).

    A plain API key goes in ``key_header`` as ``key_prefix + key`` (the provider's auth_type
    "bearer"/"oauth"/"header" still wins). ``signing="sigv4"``: AWS keys JSON, or no stored key
    (the AWS credential chain), sign the request for SigV4 service ``service``. ``token="google"``:
    a Google OAuth access token minted from a stored service-account JSON, or Application Default
    Credentials, as a Bearer header.
    """

    key_header: str = "authorization"
    key_prefix: str = "Bearer "
    signing: str = ""
    service: str = ""
    token: str = ""

    @property
    def ambient(self) -> bool:
        """Without a stored key the kind still authenticates (AWS chain, ADC)."""
        return bool(self.signing or self.token)


BEARER = AuthSpec()
SIGV4_BEDROCK = AuthSpec(signing="sigv4", service="bedrock")
GOOGLE_OAUTH = AuthSpec(token="google")

# --- stream framing ---------------------------------------------------------------------------------

SSE = "sse"                          # server-sent events, parsed into StreamEvents
SSE_PASSTHROUGH = "sse-passthrough"  # SSE whose events keep their raw bytes (forwarded unchanged)
EVENTSTREAM = "eventstream"          # AWS event-stream, Anthropic events in "chunk" messages
EVENTSTREAM_TYPED = "eventstream-typed"  # AWS event-stream, events named by :event-type

# --- options ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    """One key of Provider.options: its JSON type and what the adapter makes of it.

    Types: "bool", "auto_bool" (true, false or "auto": on for models known to reason), "int",
    "optional_int" (an int or null), "str", "str_set" (a list of strings, kept as a frozenset),
    "str_list" (a list of strings, kept in order as a tuple), "optional_str_list" (the same, or
    null), "object" (any JSON object), "str_map" (an object of strings). ``target`` False: read
    by the layer above (client.py, health.py), not a Target field.
    """

    type: str
    help: str = ""
    target: bool = True

    def __post_init__(self) -> None:
        if self.type not in _TYPE_WORDS:
            raise ValueError(f"unknown option type {self.type!r}")

    def problem(self, value: Any) -> str:
        """Why ``value`` does not fit this option ("" when it does)."""
        check = _CHECKS[self.type]
        return "" if check(value) else f"expected {_TYPE_WORDS[self.type]}, got {type(value).__name__}"

    def convert(self, value: Any) -> Any:
        """The value as Target holds it (lists made hashable)."""
        if self.type == "str_set" and isinstance(value, list | tuple | set | frozenset):
            return frozenset(value)
        if self.type in ("str_list", "optional_str_list") and isinstance(value, list):
            return tuple(value)
        return value


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_auto_bool(value: Any) -> bool:
    return isinstance(value, bool) or value == "auto"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_optional_int(value: Any) -> bool:
    return value is None or _is_int(value)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_strs(value: Any) -> bool:
    return isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value)


def _is_optional_strs(value: Any) -> bool:
    return value is None or _is_strs(value)


def _is_object(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_str_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "bool": _is_bool, "auto_bool": _is_auto_bool, "int": _is_int, "optional_int": _is_optional_int,
    "str": _is_str, "str_set": _is_strs, "str_list": _is_strs, "optional_str_list": _is_optional_strs,
    "object": _is_object, "str_map": _is_str_map,
}
_TYPE_WORDS = {
    "bool": "true or false", "auto_bool": 'true, false or "auto"', "int": "an integer",
    "optional_int": "an integer or null", "str": "a string", "str_set": "a list of strings",
    "str_list": "a list of strings", "optional_str_list": "a list of strings or null",
    "object": "a JSON object", "str_map": "an object of strings",
}

Options = Mapping[str, Option]

# Option groups shared by several kinds.
ANTHROPIC_BETAS: dict[str, Option] = {
    "beta_allow": Option("optional_str_list", "anthropic-beta flags forwarded (prefixes); null: all"),
    "beta_deny": Option("str_list", "anthropic-beta flag prefixes never forwarded"),
}
HOSTED_ANTHROPIC: dict[str, Option] = {
    **ANTHROPIC_BETAS,
    "drop_params": Option("str_set", "body fields the host rejects"),
    "model_map": Option("str_map", "Claude model name -> the host's model id"),
}
GENERATION: dict[str, Option] = {
    "default_max_tokens": Option("int", "max_tokens when the request names none"),
    "extra_body": Option("object", "merged into every upstream body"),
    "drop_billing_header": Option("bool", "drop Claude Code's per-request billing system line"),
}
REGION = Option("str", "the cloud region (SigV4 signing region / Vertex location)")
PROBE_MODEL = Option("str", "the model the health check asks for one token", target=False)


def options_problems(options: Mapping[str, Any], allowed: Options, kind: str) -> dict[str, str]:
    """{key: why} for every key of ``options`` the kind does not take or whose value is mistyped."""
    problems: dict[str, str] = {}
    for name, value in options.items():
        option = allowed.get(name)
        if option is None:
            names = ", ".join(sorted(allowed)) or "none"
            problems[name] = f"not an option of {kind} providers (allowed: {names})"
            continue
        wrong = option.problem(value)
        if wrong:
            problems[name] = wrong
    return problems


# --- init and the health probe ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Starter:
    """What ``manage.py init`` writes for this kind: the public endpoint and a model per tier."""

    base_url: str
    big: str
    middle: str
    small: str
    default: bool = False  # the kind init writes when none is asked for

    def models(self) -> dict[str, str]:
        return {"big": self.big, "middle": self.middle, "small": self.small}


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Everything about a kind that is not translation (see the module docstring)."""

    label: str
    auth: AuthSpec = BEARER
    stream_framing: str = SSE
    options: Options = field(default_factory=dict)
    starter: Starter | None = None
    # The health probe's model where the probe generates a token (hosted kinds); "" for kinds
    # whose probe is a read of their models list. Provider.options["probe_model"] overrides it.
    probe_model: str = ""
    # Clamp max_tokens to the model's known output limit when the provider sets no cap
    # (OpenAI-compatible servers refuse a max_tokens above the model's limit).
    known_output_limits: bool = False
    # The host's own spelling of a Claude model id read back as the Claude name (Bedrock's
    # "us.anthropic.claude-…-v1:0"), for clients configured for that host; None: no spelling.
    claude_name: Callable[[str], str] | None = None
