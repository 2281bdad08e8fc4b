"""Plan lines that tell the assistant to run code: dropped unless the task is about that code.

The embedded planner (Qwen2.5-Coder) often plans a task as a program. For "extract the
date in a sentence as YYYY-MM-DD" it wrote "find the date using regular expressions",
"convert it with Python's datetime module" and "do not use any external libraries or
APIs" (bench/downstream, dates); for an address normaliser, "find the street and city
using regular expressions" (bench/quality), and a sales-report analyst "use only pandas
and matplotlib" (bench/quality, csv-insights). The prompt is read by a model that answers
in text and runs none of that: such a line means nothing to it, or makes it answer with
code. So a step, rule or edge case naming a programming tool that the task (for
improve, the original prompt and its feedback) never names is dropped; a task about
regular expressions or SQL keeps every line about them.
"""

from __future__ import annotations

import functools
import re

from promptmill.engine.plan import PromptPlan

# One pattern per tool, singular and plural alike, so "a regular expression" in the task
# keeps a step about "regular expressions".
_TOOLS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\bregular\s+expressions?\b|\bregex(?:es|ps?)?\b",
        r"\bpython\b",
        r"\bjavascript\b",
        r"\bdatetime\b",
        r"\blibrar(?:y|ies)\b",
        r"\bmodules?\b",
        r"\bapis?\b",
        r"\balgorithms?\b",
        r"\bmachine\s+learning\b",
        r"\bnatural\s+language\s+processing\b|\bnlp\b",
        r"\bsql\b",
        r"\bpandas\b|\bnumpy\b|\bmatplotlib\b|\bexcel\s+formulas?\b",
    )
)


def without_machinery(plan: PromptPlan, source: str) -> PromptPlan:
    """``plan`` without steps, rules or edge cases that name a tool ``source`` never names."""
    foreign = _any_tool_of(tuple(i for i, tool in enumerate(_TOOLS) if not tool.search(source)))
    if foreign is None:
        return plan
    return plan.without_lines(lambda line: foreign.search(line) is not None)


@functools.lru_cache(maxsize=64)
def _any_tool_of(indexes: tuple[int, ...]) -> re.Pattern[str] | None:
    """One pattern for the tools at ``indexes`` (``None`` for none): a line is read once,
    not once per tool. Few sets of tools occur (most tasks name none), so each is compiled
    once."""
    if not indexes:
        return None
    return re.compile("|".join(f"(?:{_TOOLS[i].pattern})" for i in indexes), re.IGNORECASE)
