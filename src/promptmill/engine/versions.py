"""A prompt as a versionable value: its messages, system text and ``{{VARIABLES}}``.

A ``PromptTemplate`` is exactly what the prompt tools return (``messages`` plus
``system``), so a generated or improved prompt can be saved, evaluated and diffed as it
is. Two templates with the same content have the same ``content_hash``: that is what
lets the store return the existing version instead of writing a duplicate.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping

from pydantic import BaseModel

from promptmill.engine.checks import PLACEHOLDER, placeholders
from promptmill.engine.types import PromptMessage


class PromptTemplate(BaseModel):
    """Messages and system text with ``{{NAME}}`` placeholders; a final assistant message
    is the prefill the model continues from."""

    messages: list[PromptMessage]
    system: str = ""

    @property
    def variables(self) -> list[str]:
        """The placeholder names, unique, in order of first appearance (system first)."""
        texts = [self.system, *(m.text for m in self.messages)]
        return list(dict.fromkeys(name for text in texts for name in placeholders(text) if name))

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the content; equal content, equal hash."""
        canonical = {
            "messages": [{"role": m.role, "text": m.text} for m in self.messages],
            "system": self.system,
        }
        encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()

    @property
    def prefill(self) -> str | None:
        """The final assistant message's text, when there is one."""
        if self.messages and self.messages[-1].role == "assistant":
            return self.messages[-1].text
        return None


def fill_text(text: str, values: Mapping[str, str]) -> str:
    """Replace every placeholder whose name is in ``values``, in one pass.

    It matches placeholders the way ``variables`` finds them (``{{ NAME }}`` included), so
    a detected variable is always filled; values are inserted verbatim and never
    re-scanned, and placeholders without a value stay as they are.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return values[name] if name in values else match.group(0)

    return PLACEHOLDER.sub(substitute, text)


def fill_prompt(template: PromptTemplate, values: Mapping[str, str]) -> PromptTemplate:
    """The template with ``values`` filled into the system text and every message."""
    return PromptTemplate(
        messages=[PromptMessage.of(m.role, fill_text(m.text, values)) for m in template.messages],
        system=fill_text(template.system, values),
    )


def render_prompt_text(template: PromptTemplate) -> str:
    """A readable rendering: ``[system]``, ``[user]`` and ``[assistant]`` sections."""
    parts = [f"[system]\n{template.system}"] if template.system else []
    parts.extend(f"[{m.role}]\n{m.text}" for m in template.messages)
    return "\n\n".join(parts)


def diff_prompts(
    a: PromptTemplate, b: PromptTemplate, a_label: str = "a", b_label: str = "b"
) -> str:
    """A unified diff of the readable renderings of two prompts ("" when they are equal)."""
    lines = difflib.unified_diff(
        render_prompt_text(a).splitlines(keepends=True),
        render_prompt_text(b).splitlines(keepends=True),
        fromfile=a_label,
        tofile=b_label,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
