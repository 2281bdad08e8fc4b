"""The typed plan a model fills in before any prompt text exists.

Asking a model for a small, typed plan instead of a finished prompt is what lets weak
models produce good prompts: the plan is constrained to a JSON schema where the
backend supports it and validated otherwise, and the wording, tags, variables and
layout of the final prompt come from the deterministic renderer, not from the model.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from promptmill.engine.checks import is_chatter, strip_tags, to_variable_name

# Strings carry no length bounds in the schema: a llama.cpp grammar that forces a string
# to end mid-sentence sends every following token down the slow, full-vocabulary grammar
# path. Array sizes are bounded (one forced token each), which also cuts off the
# repeat-the-last-item loops of small models; ``parse_plan`` trims the rest.
MAX_INPUTS = 4
MAX_STEPS = 7
MAX_CONSTRAINTS = 5


class PlanInput(BaseModel):
    name: str
    description: str


class PromptPlan(BaseModel):
    role: str
    objective: str
    inputs: list[PlanInput] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    output_format: str = ""
    think_first: bool = False

    def text_fields(self) -> list[str]:
        """All model-written prose, for topic and safety checks."""
        return [
            self.role,
            self.objective,
            *(f"{i.name} {i.description}" for i in self.inputs),
            *self.steps,
            *self.constraints,
            self.output_format,
        ]


def plan_schema(*, fixed_inputs: list[str] | None = None) -> dict[str, Any]:
    """The JSON schema of a plan. With ``fixed_inputs`` the variables are given (improve)."""
    # No length bounds: llama.cpp grammars expand them into huge, slow rules. The token
    # budget bounds the plan and ``parse_plan`` trims what is too long.
    text = {"type": "string"}
    properties: dict[str, Any] = {
        "role": text,
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
            "output_format": text,
            "think_first": {"type": "boolean"},
        }
    )
    return {"type": "object", "properties": properties, "required": list(properties)}


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model's reply, tolerating code fences and surrounding prose."""
    fenced = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.DOTALL)
    candidates = [fenced.group(1)] if fenced else []
    start = text.find("{")
    if start != -1:
        candidates.append(text[start : text.rfind("}") + 1])
    if start != -1:
        candidates.append(close_json_prefix(text[start:]))
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("the reply holds no JSON object")


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
            json.loads(attempt)
        except ValueError:
            continue
        return attempt
    return prefix


def _clean_sentence(text: str) -> str:
    """Plan prose with tags neutralised, placeholders unwrapped, chatter sentences dropped."""
    text = strip_tags(text)
    text = re.sub(r"\{\{\s*([^{}]*?)\s*\}\}", lambda m: m.group(1).replace("_", " ").lower(), text)
    text = text.replace("{", "(").replace("}", ")")
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
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
        if fixed_inputs is None and not _ascii_letters(item.name):
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
    cleaned = PromptPlan(
        role=_clean_role(plan.role),
        objective=_clean_sentence(plan.objective),
        inputs=inputs,
        steps=_dedupe(steps)[:MAX_STEPS],
        constraints=_dedupe(constraints)[:MAX_CONSTRAINTS],
        output_format=_clean_sentence(plan.output_format),
        think_first=plan.think_first,
    )
    if not cleaned.role or not cleaned.objective:
        raise ValueError("the plan needs a role and an objective")
    if len(cleaned.steps) < 2:
        raise ValueError("the plan needs at least two distinct steps")
    if fixed_inputs is None and not cleaned.inputs:
        raise ValueError("the plan needs at least one input variable")
    return cleaned


def _ascii_fold(name: str) -> str:
    """``name`` with accents folded and other non-ASCII letters dropped (``Café`` -> ``Cafe``)."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


def _ascii_letters(name: str) -> str:
    return "".join(c for c in _ascii_fold(name) if c.isalpha())


def _strip_numbering(text: str) -> str:
    return re.sub(r"^\s*(?:step\s*)?(?:\d+[.):]|[-*•])\s*", "", text, flags=re.IGNORECASE)


def _clean_role(role: str) -> str:
    role = _clean_sentence(role).rstrip(".")
    role = re.sub(r"^(?:you are|you're|act as|acting as)\s+", "", role, flags=re.IGNORECASE)
    return role.strip()


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for item in items:
        key = item.lower()
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique
