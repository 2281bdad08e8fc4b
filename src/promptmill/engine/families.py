"""Which prompting conventions fit a ``target_model``.

Each family follows what its vendor documents:

- ``claude`` (Anthropic; also the default for an absent or unknown model): everything
  in one user message, inputs in XML tags (``<name>{{NAME}}</name>``), reasoning in
  ``<thinking>`` and the answer in ``<answer>`` tags where reasoning helps, and an
  assistant prefill that starts the answer; ``system`` stays ``""``.
- ``openai`` (GPT, ChatGPT): Markdown sections (Identity, Instructions, Output format)
  in the system/developer message and the inputs, delimited by XML tags, in the user
  message; no prefill (the Chat Completions API does not continue an assistant turn).
- ``openai_reasoning`` (o1/o3/o4, gpt-5): as ``openai`` but without "think step by
  step", which OpenAI advises against for reasoning models.
- ``gemini`` (Google): a system instruction with the role and rules, and a user
  message that states the task with labelled, delimited inputs; no prefill.
- ``open`` (Llama, Qwen, Mistral, Gemma, Phi, DeepSeek and other open-weight chat
  models): one user message with Markdown headings and XML-delimited inputs, explicit
  output format, no prefill (most serving stacks don't continue an assistant turn).
"""

from __future__ import annotations

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


def model_family(target_model: str | None) -> Family:
    """The family of ``target_model``; ``claude`` when absent or unrecognised (the API's home)."""
    if not target_model:
        return "claude"
    name = target_model.strip().lower()
    name = name.rsplit("/", 1)[-1] if "/" in name and not name.startswith("models/") else name
    for prefixes, family in _PREFIXES:
        if name.startswith(prefixes):
            return family
    for prefixes, family in _PREFIXES:
        if any(p in name for p in prefixes if len(p) > 3):
            return family
    return "claude"
