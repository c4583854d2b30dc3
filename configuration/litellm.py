"""PURE: LiteLLM model names (``prefix/model``) -> this gateway's providers and models.

claude-proxy runs on LiteLLM, so its routing names models the LiteLLM way: the prefix names the
backend, the rest is the model as that backend spells it, and LiteLLM reads the key from the
environment. Each prefix becomes one provider made from a preset (kind, URL, auth, options), its
key the ``${VAR}`` LiteLLM read (only variables providers/envvars.py allows by default); backends
that sign or mint their own credentials (Vertex: ADC; Bedrock: the AWS chain) get no stored key.
``anthropic/`` names the file's own upstream. A prefix not listed here is not guessed at: the name
is kept as written and the import notes it.

| LiteLLM name                                   | kind             | model sent              |
|------------------------------------------------|------------------|-------------------------|
| ``anthropic/claude-sonnet-4-5``                | the upstream     | ``claude-sonnet-4-5``   |
| ``gemini/gemini-2.5-pro``                      | gemini           | ``gemini-2.5-pro``      |
| ``vertex_ai/gemini-2.5-pro``                   | gemini_vertex    | ``gemini-2.5-pro``      |
| ``vertex_ai/claude-sonnet-4-5@20250929``       | vertex           | as written              |
| ``bedrock/[invoke/]anthropic.claude-…``        | bedrock          | the Bedrock id          |
| ``bedrock/[converse/]amazon.nova-pro-v1:0``    | bedrock_converse | the Bedrock id          |
| ``openai/`` ``deepseek/`` ``openrouter/`` ``mistral/`` ``ollama[_chat]/`` | openai_compat (preset) | the rest |
| ``azure/<deployment>``                         | openai_compat (azure_openai, disabled until its resource is set) | the deployment |
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from providers.presets import preset_fields


@dataclass(frozen=True, slots=True)
class Backend:
    """One provider a LiteLLM prefix stands for."""

    name: str          # the provider's name in the import
    preset: str        # providers/presets.py: kind, base URL, auth style, options
    key_var: str = ""  # the variable LiteLLM read the key from ("": nothing stored)
    note: str = ""     # what the operator still has to set
    enabled: bool = True
    base_url: str = ""  # instead of the preset's


@dataclass(frozen=True, slots=True)
class Mapped:
    backend: Backend | None  # None: the file's own upstream
    model: str


VERTEX_NOTE = ("LiteLLM read the project from VERTEXAI_PROJECT: set options.project in the admin (Providers → {name}); "
               "credentials are Application Default Credentials unless a service-account key is stored")
BEDROCK_NOTE = ("region us-east-1 (LiteLLM read AWS_REGION_NAME): change base URL and options.region if yours "
                "differs; credentials are the AWS chain unless keys are stored")
AZURE_NOTE = ("disabled until its base URL names your Azure resource (LiteLLM read AZURE_API_BASE): "
              "https://<resource>.openai.azure.com/openai/deployments/{deployment}")
# A host that never resolves: the key must not go anywhere before the operator names the resource.
AZURE_UNSET = "https://set-your-resource.invalid/openai/deployments/"

PLAIN: dict[str, Backend] = {
    "gemini": Backend("gemini", "gemini_native", "GEMINI_API_KEY"),
    "openai": Backend("openai", "openai", "OPENAI_API_KEY"),
    "deepseek": Backend("deepseek", "deepseek", "DEEPSEEK_API_KEY"),
    "openrouter": Backend("openrouter", "openrouter", "OPENROUTER_API_KEY"),
    "mistral": Backend("mistral", "mistral", "MISTRAL_API_KEY"),
    "ollama": Backend("ollama", "ollama"),
    "ollama_chat": Backend("ollama", "ollama"),
}
VERTEX_GEMINI = Backend("vertex-gemini", "gemini_vertex", note=VERTEX_NOTE.format(name="vertex-gemini"))
VERTEX_CLAUDE = Backend("vertex", "vertex", note=VERTEX_NOTE.format(name="vertex"))
BEDROCK = Backend("bedrock", "bedrock", note=BEDROCK_NOTE)
BEDROCK_CONVERSE = Backend("bedrock-converse", "bedrock_converse", note=BEDROCK_NOTE)
PREFIX = re.compile(r"^([a-z][a-z0-9_]*)/(.+)$")
SLUG_UNSAFE = re.compile(r"[^-a-zA-Z0-9_]+")


def _vertex(model: str) -> Mapped | None:
    """Gemini and Claude on Vertex; Model Garden partner models (``meta/llama…``) have no kind here."""
    if model.startswith("gemini-"):
        return Mapped(VERTEX_GEMINI, model)
    if model.startswith("claude-"):
        return Mapped(VERTEX_CLAUDE, model)
    return None


def _bedrock(model: str) -> Mapped:
    """``converse/`` and ``invoke/`` choose the API as in LiteLLM; otherwise Anthropic models use
    InvokeModel (the bedrock kind) and every other model Converse."""
    route, sep, rest = model.partition("/")
    if sep and route in ("converse", "invoke"):
        return Mapped(BEDROCK if route == "invoke" else BEDROCK_CONVERSE, rest)
    return Mapped(BEDROCK if "anthropic." in model else BEDROCK_CONVERSE, model)


def _azure(deployment: str) -> Mapped:
    name = "azure-" + (SLUG_UNSAFE.sub("-", deployment).strip("-")[:50] or "deployment")
    return Mapped(Backend(name, "azure_openai", "AZURE_API_KEY", AZURE_NOTE.replace("{deployment}", deployment),
                          enabled=False, base_url=AZURE_UNSET + deployment), deployment)


SPECIAL: dict[str, Callable[[str], Mapped | None]] = {"vertex_ai": _vertex, "bedrock": _bedrock, "azure": _azure}


def litellm_model(name: str) -> Mapped | None:
    """The backend and model a LiteLLM name stands for; None: not a name this module maps."""
    match = PREFIX.match(name.strip())
    if match is None:
        return None
    prefix, model = match.groups()
    if prefix == "anthropic":
        return Mapped(None, model)
    if prefix in PLAIN:
        return Mapped(PLAIN[prefix], model)
    special = SPECIAL.get(prefix)
    return special(model) if special is not None else None


def backend_provider(backend: Backend, priority: int) -> dict[str, Any]:
    """The canonical provider dict for ``backend`` (no ``api_key`` key: nothing stored, or kept)."""
    fields = preset_fields(backend.preset)
    provider = {"name": backend.name, "preset": backend.preset, **fields, "priority": priority,
                "enabled": backend.enabled}
    if backend.base_url:
        provider["base_url"] = backend.base_url
    if backend.key_var:
        provider["api_key"] = "${" + backend.key_var + "}"
    return provider


def backend_note(backend: Backend) -> str:
    return f"provider {backend.name}: {backend.note}" if backend.note else ""


def unmapped_note(name: str, upstream: str) -> str:
    """Why a ``prefix/model`` name is left as written ("" when ``name`` has no such prefix)."""
    match = PREFIX.match(name.strip())
    if match is None:
        return ""
    return (f"model {name!r}: no provider kind for this LiteLLM name ({match.group(1)}/…); "
            f"sent to {upstream} as written")


class LiteLLMNames:
    """The providers a claude-proxy file's LiteLLM names need, made once each in order of first use
    (priorities after the upstream's), with the notes of what is left to set."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.providers: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []

    def _note(self, note: str) -> None:
        if note and note not in self.notes:
            self.notes.append(note)

    def place(self, name: str) -> tuple[str, str]:
        """(provider, model) for a model name of the file."""
        mapped = litellm_model(name)
        if mapped is None:
            self._note(unmapped_note(name, self.upstream))
            return self.upstream, name
        backend = mapped.backend
        if backend is None:
            return self.upstream, mapped.model
        if backend.name not in self.providers:
            self.providers[backend.name] = backend_provider(backend, 10 * (len(self.providers) + 1))
            self._note(backend_note(backend))
        return backend.name, mapped.model

    def spec(self, spec: str) -> str:
        """An agent's model: a LiteLLM name becomes ``model@provider``; aliases and plain names stay."""
        if litellm_model(spec) is None:
            self._note(unmapped_note(spec, self.upstream))
            return spec
        provider, model = self.place(spec)
        return f"{model}@{provider}"
