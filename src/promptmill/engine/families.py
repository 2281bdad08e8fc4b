"""Which prompting conventions fit a ``target_model``.

Each family follows what its vendor documents:

- ``claude`` (Anthropic; also the default for an absent or unknown model): everything
  in one user message, inputs in XML tags (``<name>{{NAME}}</name>``), reasoning in
  ``<thinking>`` and the answer in ``<answer>`` tags where reasoning helps, and an
  assistant prefill that starts the answer where the model accepts one (see
  ``accepts_prefill``); ``system`` stays ``""``.
- ``openai`` (GPT, ChatGPT): Markdown sections (Identity, Instructions, Output format)
  and then the inputs, delimited by XML tags; by OpenAI's convention the sections form
  the system/developer message (returned separately only on request, see
  ``separates_system``); no prefill (the Chat Completions API does not continue an
  assistant turn).
- ``openai_reasoning`` (o1/o3/o4, gpt-5): as ``openai`` but without "think step by
  step", which OpenAI advises against for reasoning models.
- ``gemini`` (Google): a system instruction with the role and rules (returned
  separately only on request), then the task with labelled, delimited inputs; no prefill.
- ``open`` (Llama, Qwen, Mistral, Gemma, Phi, DeepSeek and other open-weight chat
  models): one user message with Markdown headings and XML-delimited inputs, explicit
  output format, no prefill (most serving stacks don't continue an assistant turn).
"""

from __future__ import annotations

import re
from typing import Literal

Family = Literal["claude", "openai", "openai_reasoning", "gemini", "open"]

_PREFIXES: tuple[tuple[tuple[str, ...], Family], ...] = (
    (("claude", "anthropic"), "claude"),
    (("o1", "o3", "o4", "gpt-5", "gpt5"), "openai_reasoning"),
    (("gpt", "chatgpt", "openai", "text-davinci"), "openai"),
    (("gemini", "models/gemini", "google"), "gemini"),
    (
        (
            "llama",
            "meta-llama",
            "qwen",
            "qwq",
            "mistral",
            "mixtral",
            "gemma",
            "phi",
            "deepseek",
            "smollm",
            "granite",
            "command",
            "olmo",
            "falcon",
            "yi-",
            "codellama",
            "starcoder",
            "hf:",
        ),
        "open",
    ),
)


def _bare_name(target_model: str) -> str:
    """The model's own name, lower case, without a provider path ("Qwen/Qwen2.5-7B" ->
    "qwen2.5-7b"); Gemini's "models/..." names keep theirs."""
    name = target_model.strip().lower()
    return name.rsplit("/", 1)[-1] if "/" in name and not name.startswith("models/") else name


def model_family(target_model: str | None) -> Family:
    """The family of ``target_model``; ``claude`` when absent or unrecognised (the API's home)."""
    if not target_model:
        return "claude"
    name = _bare_name(target_model)
    for prefixes, family in _PREFIXES:
        if name.startswith(prefixes):
            return family
    for prefixes, family in _PREFIXES:
        if any(p in name for p in prefixes if len(p) > 3):
            return family
    return "claude"


# Which models accept an assistant prefill (a final assistant message the model continues).
# This is the one place that knows; the renderer, the pipeline and evaluation all ask
# ``accepts_prefill``.
#
# - Claude models before 4.6 accept one: Claude 1, 2 and Instant, every Claude 3 and 3.x
#   (``claude-3-5-sonnet-...``, ``claude-3-7-sonnet-...``) and Claude 4 to 4.5
#   (``claude-sonnet-4-...``, ``claude-opus-4-1-...``, ``claude-haiku-4-5-...``), under
#   any provider prefix (``anthropic.``, ``us.anthropic.``) or suffix (``@date``, ``-v1:0``).
# - Claude Opus 4.6 / Sonnet 4.6 and every later Claude reject one with a 400 ("This model
#   does not support assistant message prefill"; Anthropic's release notes, February 2026).
# - No other family takes one: OpenAI's Chat Completions and Responses APIs, Gemini and the
#   usual open-weight serving stacks start a new assistant turn instead of continuing it.
# - An absent or unrecognisable model name gets none: a prompt without a prefill works on
#   every model, one with a prefill fails on the newest Claude models.
FIRST_CLAUDE_WITHOUT_PREFILL = (4, 6)

_CLAUDE_NEW_NAME = re.compile(r"claude-(?:opus|sonnet|haiku)-(\d+)(?:[-.](\d{1,2}))?(?!\d)")
_CLAUDE_OLD_NAME = re.compile(r"claude-(\d+)(?:[-.](\d))?(?:-|$)")
_CLAUDE_LEGACY_NAME = re.compile(r"claude-(?:instant|v\d)")


def claude_version(target_model: str) -> tuple[int, int] | None:
    """The (major, minor) version in a Claude model name, or ``None`` if it names none.

    Both naming schemes are read: ``claude-3-7-sonnet-20250219`` (version first) and
    ``claude-sonnet-4-5-20250929`` / ``claude-opus-4-6`` (tier first). A date suffix is
    never taken for a minor version.
    """
    name = target_model.strip().lower()
    for pattern in (_CLAUDE_NEW_NAME, _CLAUDE_OLD_NAME):
        match = pattern.search(name)
        if match:
            return int(match.group(1)), int(match.group(2) or 0)
    if _CLAUDE_LEGACY_NAME.search(name):
        return (1, 0)
    return None


def accepts_prefill(target_model: str | None) -> bool:
    """Whether ``target_model`` continues a final assistant message instead of rejecting it.

    Pure and cheap: the renderer uses it to decide between an assistant prefill and an
    instruction that states the opening of the answer, and evaluation uses it never to
    send a prefill to a model that rejects it.
    """
    if not target_model or model_family(target_model) != "claude":
        return False
    version = claude_version(target_model)
    return version is not None and version < FIRST_CLAUDE_WITHOUT_PREFILL


def separates_system(family: Family) -> bool:
    """Whether ``family``'s vendor puts the instructions in a system (developer) message.

    Prompts are returned with ``system: ""`` by default, as the Prompt Tools API does;
    callers who ask for a separate system prompt get one only for these families.
    """
    return family in ("openai", "openai_reasoning", "gemini")


# Step-by-step reasoning pays with scale. Chain-of-thought gains appear only in larger
# models (Wei et al., 2022, "Chain-of-Thought Prompting Elicits Reasoning in Large Language
# Models"); a small model's chain is fluent but often wrong, and long enough to run past an
# answer-length cap. Measured here on Qwen2.5-Coder 1.5B with the same generated prompts,
# answered with their step-by-step line and with a direct-answer line instead, at a
# 256-token cap (bench/bigbench/reasoning.py, bench/results/bigbench_reasoning.md): on
# BIG-bench's disambiguation_qa, 1/10 right with the step-by-step line, 5/10 with the
# direct line, 3/10 for the bare task. Targets under this many parameters (read from the
# name: "1.5b", "135m", "3b") are asked for a direct answer; larger ones, and names
# without a size, keep their reasoning.
SMALL_MODEL_PARAMETERS = 4e9
_SIZE_IN_NAME = re.compile(r"(?<![a-z0-9.])(?:\d+x)?(\d+(?:\.\d+)?)([bm])(?![a-z0-9])")


def parameter_count(target_model: str | None) -> float | None:
    """The parameter count a model's name states ("qwen2.5-coder-1.5b" -> 1.5e9), or None.

    A mixture's name ("mixtral-8x7b") counts its experts' size, the part that runs per
    token; a name with no size (most API models) has none.
    """
    if not target_model:
        return None
    match = _SIZE_IN_NAME.search(_bare_name(target_model))
    if not match:
        return None
    return float(match.group(1)) * (1e9 if match.group(2) == "b" else 1e6)


def reasons_step_by_step(target_model: str | None) -> bool:
    """Whether a prompt for ``target_model`` should ask for reasoning before the answer."""
    count = parameter_count(target_model)
    return count is None or count >= SMALL_MODEL_PARAMETERS


CONVENTIONS: dict[Family, str] = {
    "claude": "everything in one user message; XML tags around each input and around the "
    "parts of the answer; for tasks that need several steps of thought, reasoning in "
    "<thinking> tags before the answer in <answer> tags.",
    "openai": "Markdown sections (Identity, Instructions, Examples, Output format), then the "
    "inputs, each delimited by XML tags.",
    "openai_reasoning": "Markdown sections (Identity, Instructions, Output format), then the "
    "inputs delimited by XML tags; no request to think step by step (the model reasons on "
    "its own).",
    "gemini": "the role and rules first, then the task with each input labelled and "
    "delimited by XML tags.",
    "open": "one message with short Markdown headings, each input delimited by XML tags, "
    "and an explicit output format; concise.",
}
"""The conventions above in words, for a model that writes a whole prompt itself
(``PromptEngine``'s free-form mode); the renderer implements the same ones in code."""
