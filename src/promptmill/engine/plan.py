"""The typed plan a model fills in before any prompt text exists.

Asking a model for a small, typed plan instead of a finished prompt is what lets weak
models produce good prompts: the plan is constrained to a JSON schema where the
backend supports it and validated otherwise, and the wording, tags, variables and
layout of the final prompt come from the deterministic renderer, not from the model.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from promptmill.engine.checks import is_chatter, strip_tags, to_variable_name

# Strings carry no length bounds in the schema: a llama.cpp grammar that forces a string
# to end mid-sentence sends every following token down the slow, full-vocabulary grammar
# path. Array sizes are bounded (one forced token each), which also cuts off the
# repeat-the-last-item loops of small models; ``parse_plan`` trims the rest.
MAX_INPUTS = 4
MAX_STEPS = 6
MAX_CONSTRAINTS = 4
MAX_EXAMPLES = 2
MAX_EDGE_CASES = 3
MAX_OUTPUT_FIELDS = 6
# Must-keep requirements of an improved prompt may add constraints beyond the model's five.
MAX_KEPT_CONSTRAINTS = 12

# What kind of job the prompt is for. Only multi-step reasoning pays for step-by-step
# thinking: bench/downstream measured a generated extraction prompt that asked a small
# model to reason at 0.45x the bare task (it rambled past its answer), so classification,
# extraction, transformation, writing and conversation get a direct answer format and
# worked examples instead. ``choose`` is a choice among candidates the input itself gives
# (which of two sentences is sarcastic): its answer names one of them (see ``choice.py``).
CHOICE_KIND = "choose"
CLASSIFY_KIND = "classify"
TASK_KINDS = (CLASSIFY_KIND, CHOICE_KIND, "extract", "transform", "write", "converse", "reason")
REASONING_KINDS = frozenset({"reason"})


class PlanInput(BaseModel):
    name: str
    description: str


class PlanExample(BaseModel):
    """A worked example: a concrete input and the ideal answer to it."""

    input: str
    output: str


class OutputField(BaseModel):
    """One named part of a structured answer (a JSON key, a CSV column, a section)."""

    name: str
    type: str = "string"
    description: str = ""


class PromptPlan(BaseModel):
    role: str
    objective: str
    context: str = ""
    inputs: list[PlanInput] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    edge_cases: list[str] = Field(default_factory=list)
    tone: str = ""
    output_format: str = ""
    output_fields: list[OutputField] = Field(default_factory=list)
    examples: list[PlanExample] = Field(default_factory=list)
    task_kind: str = ""
    think_first: bool = False

    def without_lines(
        self,
        drop: Callable[[str], bool],
        fields: tuple[str, ...] = ("steps", "constraints", "edge_cases"),
    ) -> PromptPlan:
        """A copy without the lines of ``fields`` that ``drop`` rejects.

        The fix-ups after planning (``answer_set``, ``machinery``, ``contradictions``,
        ``exemplar_copies``) each remove instruction lines a small planner invented; this
        is their one way to. Most plans lose no line (``changed``).
        """
        return self.changed(
            **{name: [line for line in getattr(self, name) if not drop(line)] for name in fields}
        )

    def changed(self, **update: Any) -> PromptPlan:
        """A copy with ``update``, or ``self`` when every field already has that value.

        The fix-ups after planning mostly change nothing; returning ``self`` then spares
        a pydantic copy per fix-up and request (plans are never changed in place).
        """
        if all(getattr(self, name) == value for name, value in update.items()):
            return self
        return self.model_copy(update=update)

    def text_fields(self) -> list[str]:
        """All model-written prose, for topic and safety checks."""
        return [
            self.role,
            self.objective,
            self.context,
            *(f"{i.name} {i.description}" for i in self.inputs),
            *self.steps,
            *self.constraints,
            *self.edge_cases,
            self.tone,
            self.output_format,
            *(f"{f.name} {f.type} {f.description}" for f in self.output_fields),
            *(f"{e.input} {e.output}" for e in self.examples),
        ]


def plan_schema(*, fixed_inputs: list[str] | None = None) -> dict[str, Any]:
    """The JSON schema of a plan. With ``fixed_inputs`` the variables are given (improve).

    Built once per list of inputs and shared: callers only read it, and the backends
    that derive something from a schema (OpenAI's strict form, a grammar) can then keep
    their work for the very same object.
    """
    return _plan_schema(None if fixed_inputs is None else tuple(fixed_inputs))


@functools.lru_cache(maxsize=256)
def _plan_schema(fixed_inputs: tuple[str, ...] | None) -> dict[str, Any]:
    # No length bounds: llama.cpp grammars expand them into huge, slow rules. The token
    # budget bounds the plan and ``parse_plan`` trims what is too long.
    text = {"type": "string"}
    properties: dict[str, Any] = {
        "task_kind": {"type": "string", "enum": list(TASK_KINDS)},
        "role": text,
        "context": text,
        "objective": text,
    }
    if fixed_inputs is None:
        properties["inputs"] = {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_INPUTS,
            "items": {
                "type": "object",
                "properties": {
                    # No pattern: forcing capitals token by token derails small models;
                    # names are normalised to UPPER_SNAKE_CASE after parsing instead.
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                },
                "required": ["name", "description"],
            },
        }
    elif fixed_inputs:
        properties["input_descriptions"] = {
            "type": "object",
            "properties": {name: text for name in fixed_inputs},
            "required": list(fixed_inputs),
        }
    properties.update(
        {
            "steps": {"type": "array", "minItems": 2, "maxItems": MAX_STEPS, "items": text},
            "constraints": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_CONSTRAINTS,
                "items": text,
            },
            "edge_cases": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_EDGE_CASES,
                "items": text,
            },
            "tone": text,
            "output_format": text,
            "output_fields": {
                "type": "array",
                "maxItems": MAX_OUTPUT_FIELDS,
                "items": {
                    "type": "object",
                    "properties": {"name": text, "type": text, "description": text},
                    "required": ["name", "type", "description"],
                },
            },
            "examples": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_EXAMPLES,
                "items": {
                    "type": "object",
                    "properties": {"input": text, "output": text},
                    "required": ["input", "output"],
                },
            },
        }
    )
    return {"type": "object", "properties": properties, "required": list(properties)}


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model's reply, tolerating code fences and surrounding prose."""
    for candidate in _json_candidates(text):
        try:
            # Not strict: a model writes a raw line break inside a string (a bulleted
            # example output); Qwen 1.5B's plan for "summarise a news article in three
            # bullet points" failed all three attempts on that alone (bench/quality).
            value = json.loads(candidate, strict=False)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("the reply holds no JSON object")


def _json_candidates(text: str) -> Iterator[str]:
    """What may be the reply's JSON object, likeliest first; the costly repair of a cut-off
    reply (a pass over every character) only if the others do not parse."""
    fenced = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.DOTALL)
    if fenced:
        yield fenced.group(1)
    start = text.find("{")
    if start != -1:
        yield text[start : text.rfind("}") + 1]
        yield close_json_prefix(text[start:])


def close_json_prefix(prefix: str) -> str:
    """Complete a JSON text that was cut off (by a token limit or a loop guard).

    Grammar-constrained decoding yields a valid JSON prefix even when it stops early; a
    small model that started repeating itself has usually written everything useful
    before that, so closing the open string, arrays and objects keeps the plan instead of
    throwing the whole reply away. The result still goes through full validation.
    """
    closers: list[str] = []
    cut_points: list[tuple[int, str]] = []  # (index of a comma, the closers needed there)
    in_string = escaped = False
    for index, char in enumerate(prefix):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            closers.append("}" if char == "{" else "]")
        elif char in "}]":
            if closers:
                closers.pop()
            if not closers:
                return prefix[: index + 1]
        elif char == ",":
            cut_points.append((index, "".join(reversed(closers))))
    closed = prefix + ('"' if in_string else "") + "".join(reversed(closers))
    cuts = [prefix[:cut] + tail for cut, tail in reversed(cut_points)]
    # A string cut off inside an array is a truncated item: drop it rather than keep half
    # a sentence. A cut-off object value is kept, since the field may be required.
    in_array_item = in_string and bool(closers) and closers[-1] == "]"
    attempts = [*cuts, closed] if in_array_item else [closed, *cuts]
    for attempt in attempts:
        try:
            json.loads(attempt, strict=False)
        except ValueError:
            continue
        return attempt
    return prefix


# Compiled once: the cleaners run on every field of every plan.
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
_NOT_FIELD_NAME = re.compile(r"[^\w\- ]+")
_NOT_FIELD_TYPE = re.compile(r"[^\w\- ,/\[\]]+")
_NUMBERING = re.compile(r"^\s*(?:step\s*)?(?:\d+[.):]|[-*•])\s*", re.IGNORECASE)
_ROLE_OPENING = re.compile(r"^(?:you are|you're|act as|acting as)\s+", re.IGNORECASE)


def _placeholder_words(match: re.Match[str]) -> str:
    """A ``{{CUSTOMER_NAME}}`` in model prose as the words it stands for: ``customer name``."""
    return match.group(1).replace("_", " ").lower()


def _unwrapped(text: str) -> str:
    """``text`` with each placeholder replaced by its words (``_placeholder_words``)."""
    if "{{" not in text:  # most plan prose: a substring scan instead of the pattern
        return text
    return _PLACEHOLDER.sub(_placeholder_words, text)


def clean_sentence(text: str) -> str:
    """Model- or user-written prose made safe for the renderer (see ``_clean_sentence``)."""
    return _clean_sentence(text)


def _clean_sentence(text: str) -> str:
    """Plan prose with tags neutralised, placeholders unwrapped, chatter sentences dropped."""
    text = _unwrapped(strip_tags(text))
    text = text.replace("{", "(").replace("}", ")")
    sentences = _SENTENCE_BREAK.split(text.strip())
    kept = [s for s in sentences if s and not is_chatter(s)]
    return " ".join(_dedupe(kept)).strip()


def parse_plan(raw: dict[str, Any], *, fixed_inputs: list[str] | None = None) -> PromptPlan:
    """Validate and sanitise a model's plan; raises ``ValueError`` with a model-readable reason."""
    data = dict(raw)
    if fixed_inputs is not None:
        descriptions = data.pop("input_descriptions", None) or {}
        if not isinstance(descriptions, dict):
            descriptions = {}
        data["inputs"] = [
            {"name": name, "description": str(descriptions.get(name) or name.replace("_", " "))}
            for name in fixed_inputs
        ]
    if isinstance(data.get("think_first"), str):
        data["think_first"] = data["think_first"].strip().lower() in {"true", "yes", "1"}
    kind = str(data.get("task_kind") or "").strip().lower()
    data["task_kind"] = kind if kind in TASK_KINDS else ""
    if data["task_kind"]:
        # The kind decides, not the model's taste: reasoning only where it pays.
        data["think_first"] = data["task_kind"] in REASONING_KINDS
    try:
        plan = PromptPlan.model_validate(data)
    except ValidationError as exc:
        raise ValueError(
            f"the plan does not match the schema: {exc.errors()[0]['msg']} "
            f"at {'.'.join(map(str, exc.errors()[0]['loc']))}"
        ) from exc
    inputs: list[PlanInput] = []
    seen: set[str] = set()
    for item in plan.inputs[:MAX_INPUTS]:
        if fixed_inputs is None and not _has_ascii_letter(item.name):
            raise ValueError(
                f"the input name {item.name!r} has no ASCII letters: name every input in "
                "English UPPER_SNAKE_CASE (translate or transliterate it)"
            )
        name = item.name if fixed_inputs is not None else to_variable_name(_ascii_fold(item.name))
        if name in seen:
            continue
        seen.add(name)
        inputs.append(PlanInput(name=name, description=_clean_sentence(item.description)))
    steps = [s for s in (_clean_sentence(_strip_numbering(step)) for step in plan.steps) if s]
    constraints = [c for c in (_clean_sentence(_strip_numbering(c)) for c in plan.constraints) if c]
    edge_cases = [c for c in (_clean_sentence(_strip_numbering(c)) for c in plan.edge_cases) if c]
    cleaned = PromptPlan(
        role=_clean_role(plan.role),
        objective=_clean_sentence(plan.objective),
        context=_clean_sentence(plan.context),
        inputs=inputs,
        steps=_dedupe(steps)[:MAX_STEPS],
        constraints=_dedupe(constraints)[:MAX_CONSTRAINTS],
        edge_cases=_dedupe(edge_cases)[:MAX_EDGE_CASES],
        tone=_clean_sentence(plan.tone),
        output_format=_clean_sentence(plan.output_format),
        output_fields=_clean_fields(plan.output_fields),
        examples=_clean_examples(plan.examples),
        task_kind=plan.task_kind,
        think_first=plan.think_first,
    )
    if not cleaned.role or not cleaned.objective:
        raise ValueError("the plan needs a role and an objective")
    if len(cleaned.steps) < 2:
        raise ValueError("the plan needs at least two distinct steps")
    if fixed_inputs is None and not cleaned.inputs:
        raise ValueError("the plan needs at least one input variable")
    return cleaned


def _clean_fields(fields: list[OutputField]) -> list[OutputField]:
    """Output fields with a usable name each (``snake_case`` words, no tags), deduplicated."""
    cleaned: list[OutputField] = []
    seen: set[str] = set()
    for item in fields:
        name = _NOT_FIELD_NAME.sub("", strip_tags(item.name)).strip()
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        kind = _NOT_FIELD_TYPE.sub("", strip_tags(item.type)).strip() or "string"
        cleaned.append(
            OutputField(name=name, type=kind, description=_clean_sentence(item.description))
        )
    return cleaned[:MAX_OUTPUT_FIELDS]


def clean_example_text(text: str) -> str:
    """Example text kept verbatim (line breaks, JSON braces) but structurally inert.

    An example is concrete, so placeholders are unwrapped to their words; tags become
    words (the renderer owns every tag); a ``{{`` or ``}}`` is spaced apart, which keeps
    nested JSON valid while no placeholder can form.
    """
    text = _unwrapped(strip_tags(text))
    while "{{" in text or "}}" in text:
        text = text.replace("{{", "{ {").replace("}}", "} }")
    return text.strip()


# An output of at least this many lines, fewer than half of them distinct, is a loop.
_LOOP_MIN_LINES = 8
# So is one that repeats a block of this many lines in a row, or writes a sentence this
# long this many times (twice may be a summary restated, or a poem's refrain).
_LOOP_BLOCK_LINES = 5
_LOOP_SENTENCE_WORDS = 6
_LOOP_SENTENCE_COPIES = 3
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def cut_loop(text: str) -> str:
    """``text`` cut where a small model's loop starts, or as it is when it does not loop.

    Qwen 1.5B's plan for the README's seed task ("a chef for a meal prep planning
    service") came with an ideal output listing "- Garlic", "- Onion", "- Olive oil" over
    and over until the token cap, and its plan for bench/quality's long-onboarding a
    nine-item checklist written out twice and a half, then the sentence "I'll start with
    payroll dates, safety training, ..." four times in a row; a model shown such an
    example loops in turn. Such an output keeps what comes before the repetition (the
    second copy of a repeated block of five lines, else of a sentence of six words or
    more written three times, else the first repeated line of an output mostly
    repeated), then "...", as the planner is told to cut a long answer short. Outputs
    with a few repeated short lines (a "Breakfast: oats" under each day) are not loops
    and stay whole.
    """
    lines = text.splitlines()
    numbered = [(index, line.strip()) for index, line in enumerate(lines) if line.strip()]
    content = [line for _, line in numbered]
    seen_blocks: set[tuple[str, ...]] = set()
    for start in range(len(content) - _LOOP_BLOCK_LINES + 1):
        block = tuple(content[start : start + _LOOP_BLOCK_LINES])
        if block in seen_blocks:
            return "\n".join([*lines[: numbered[start][0]], "..."])
        seen_blocks.add(block)
    sentences = [
        (match.start(), " ".join(match.group().casefold().split()))
        for match in _SENTENCE.finditer(text)
    ]
    counts = Counter(key for _, key in sentences if len(key.split()) >= _LOOP_SENTENCE_WORDS)
    seen_sentences: set[str] = set()
    for start, key in sentences:
        if counts[key] >= _LOOP_SENTENCE_COPIES:
            if key in seen_sentences:
                return f"{text[:start].rstrip()} ..."
            seen_sentences.add(key)
    if len(content) < _LOOP_MIN_LINES or len(set(content)) * 2 >= len(content):
        return text
    seen: set[str] = set()
    for index, line in enumerate(lines):
        key = line.strip()
        if key and key in seen:
            return "\n".join([*lines[:index], "..."])
        seen.add(key)
    return text


def _clean_examples(examples: list[PlanExample]) -> list[PlanExample]:
    """The examples worth showing: complete, distinct, and not a copy of their own input.

    An example whose ideal output repeats its input shows no work done and teaches a small
    model to echo: Qwen 1.5B's plans for BIG-bench's hyperbaton and disambiguation_qa
    both came with "The cat is sleeping on the couch." -> the same sentence. An output
    that loops is cut where the loop starts (``cut_loop``).
    """
    cleaned = []
    for item in examples:
        example = PlanExample(
            input=clean_example_text(item.input),
            output=cut_loop(clean_example_text(item.output)),
        )
        if (
            example.input
            and example.output
            and folded(example.input) != folded(example.output)
            and example not in cleaned
        ):
            cleaned.append(example)
    return cleaned[:MAX_EXAMPLES]


def folded(text: str) -> str:
    """``text`` as compared for sameness: case, spacing and edge full stops ignored."""
    return " ".join(text.casefold().split()).strip(" .")


def _ascii_fold(name: str) -> str:
    """``name`` with accents folded and other non-ASCII letters dropped (``Café`` -> ``Cafe``)."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


_ASCII_LETTER = re.compile(r"[A-Za-z]")


def _has_ascii_letter(name: str) -> bool:
    """Whether ``name`` folded to ASCII (``_ascii_fold``) keeps a letter to name it by."""
    return _ASCII_LETTER.search(_ascii_fold(name)) is not None


def _strip_numbering(text: str) -> str:
    return _NUMBERING.sub("", text)


def _clean_role(role: str) -> str:
    role = _clean_sentence(role).rstrip(".")
    role = _ROLE_OPENING.sub("", role)
    return role.strip()


def _dedupe(items: list[str]) -> list[str]:
    if len(items) < 2:  # most prose is one sentence: nothing to compare
        return list(items)
    seen: set[str] = set()
    unique = []
    for item in items:
        key = item.lower()
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


# Words that name what an assistant produces. An input so named is the expected answer
# declared as material (a sports-plausibility task once came back with inputs SENTENCE and
# ANSWER), unless a word says someone else produced it (a tutor receives STUDENT_ANSWER).
_PRODUCT_WORDS = frozenset(
    {
        "answer",
        "answers",
        "result",
        "results",
        "output",
        "outputs",
        "response",
        "prediction",
        "verdict",
        "label",
        "classification",
    }
)
_OTHER_PRODUCER = frozenset(
    {
        "student",
        "students",
        "user",
        "users",
        "customer",
        "customers",
        "candidate",
        "previous",
        "prior",
        "draft",
        "original",
        "reference",
        "example",
        "sample",
        "existing",
        "current",
        "model",
        "test",
        "source",
        "allowed",
        "possible",
        "valid",
    }
)
# A task whose objective starts with one of these verbs produces the matching nouns.
_VERB_PRODUCTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("summar", frozenset({"summary", "summaries"})),
    ("translat", frozenset({"translation", "translations"})),
    ("classif", frozenset({"classification", "category", "class", "label"})),
    ("categori", frozenset({"category", "categories", "label"})),
    ("answer", frozenset({"answer", "answers"})),
    ("grade", frozenset({"grade", "score"})),
    ("score", frozenset({"score", "rating"})),
    ("rate", frozenset({"rating", "score"})),
)
_PRODUCED_DESCRIPTION = re.compile(
    r"\b(?:expected|correct|ideal|desired|generated|predicted|final|resulting)\s+"
    r"(?:answer|output|result|label|response|summary|classification|translation|score)\b"
    r"|\b(?:your|the\s+(?:assistant|model)'?s?)\s+(?:answer|output|response|result)\b",
    re.IGNORECASE,
)


def names_a_product(name: str, products: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether variable ``name`` names what the assistant produces (ANSWER, RESULT...,
    or one of the task's own ``products``), not something someone else produced."""
    words = set(name.lower().split("_"))
    return bool(words & (_PRODUCT_WORDS | products)) and not words & _OTHER_PRODUCER


def output_like_inputs(plan: PromptPlan) -> list[PlanInput]:
    """Inputs that are really what the assistant must produce, not what it receives.

    An input is output-like when its name is a product word (ANSWER, RESULT, LABEL...)
    not owned by someone else, when it is named for the task's own product (SUMMARY for a
    summariser), when it has the name of an output field, or when its description says it
    is the expected answer.
    """
    objective = plan.objective.lower()
    products = set().union(*(nouns for verb, nouns in _VERB_PRODUCTS if objective.startswith(verb)))
    fields = {to_variable_name(f.name) for f in plan.output_fields}
    flagged = []
    for item in plan.inputs:
        if (
            names_a_product(item.name, products)
            or item.name in fields
            or _PRODUCED_DESCRIPTION.search(item.description)
        ):
            flagged.append(item)
    return flagged
