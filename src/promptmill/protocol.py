"""The wire protocol's constants, defined once for the server, the client, the CLI and the tests.

The three tool paths, the beta they require and the ``anthropic-version`` the client
sends are those of Anthropic's Prompt Tools API, so a client built on these names talks
to ``https://api.anthropic.com`` and to a promptmill server alike. Promptmill's own
extensions live under ``PROMPTMILL_PREFIX``, a prefix the Anthropic API does not use.
"""

from __future__ import annotations

from typing import Final

PROMPT_TOOLS_BETA: Final = "prompt-tools-2025-04-02"
"""The ``anthropic-beta`` value every tool call must carry."""

ANTHROPIC_VERSION: Final = "2023-06-01"
"""The ``anthropic-version`` the client sends (the server accepts any well-formed date)."""

GENERATE_PATH: Final = "/v1/experimental/generate_prompt"
IMPROVE_PATH: Final = "/v1/experimental/improve_prompt"
TEMPLATIZE_PATH: Final = "/v1/experimental/templatize_prompt"

PROMPTMILL_PREFIX: Final = "/v1/promptmill"
"""Where promptmill's extensions to the API live (history, evaluation, optimization)."""

HISTORY_PATH: Final = f"{PROMPTMILL_PREFIX}/history"

SEPARATE_SYSTEM_HEADER: Final = "promptmill-separate-system"
"""promptmill's opt-in on generate_prompt and improve_prompt: ``true`` returns the
instructions as a separate ``system`` prompt for target families whose convention that
is (GPT, o-series, Gemini). Without it the answer has the Anthropic API's shape
(``system: ""``, the whole prompt in the user message). Named like the protocol's own
headers (``anthropic-beta``), with our name in place of Anthropic's, so it can never
clash with one Anthropic adds."""

SEPARATE_SYSTEM_VALUES: Final = {"true": True, "false": False}
"""The values ``SEPARATE_SYSTEM_HEADER`` accepts; anything else is a 400."""

MAX_JSON_DEPTH: Final = 64
"""How deeply a request body's arrays and objects may nest; a real request needs 4 levels."""

MAX_INTEGER_DIGITS: Final = 1000
"""The longest integer a request body may carry; longer ones cost quadratic time to parse."""

# Evaluation (issue 8): the collections; items are ``{PATH}/{name}`` or ``{PATH}/{id}``.
PROMPTS_PATH: Final = f"{PROMPTMILL_PREFIX}/prompts"
DATASETS_PATH: Final = f"{PROMPTMILL_PREFIX}/datasets"
GENERATE_CASES_PATH: Final = f"{PROMPTMILL_PREFIX}/cases/generate"
RUNS_PATH: Final = f"{PROMPTMILL_PREFIX}/runs"
OPTIMIZE_PATH: Final = f"{PROMPTMILL_PREFIX}/optimize"
"""Optimize a prompt on labelled cases (``promptmill.engine.optimize``)."""
