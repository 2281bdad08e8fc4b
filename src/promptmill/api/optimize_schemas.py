"""The request of ``POST /v1/promptmill/optimize``, exactly as the wire carries it.

The answer's model is ``promptmill.optimize_types.OptimizeResult``, shared with the
engine and the client. Graders are taken as JSON objects here and checked by
``engine.graders.validate_graders`` in the route, so a bad one is a 400 naming it
(``graders.0.type: unknown grader 'foo'; choose one of ...``) with the same words as
everywhere else graders are accepted.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from promptmill.api.schemas import MessageParam, TargetModel
from promptmill.engine.graders import GRADERS
from promptmill.engine.optimize import (
    DEFAULT_BUDGET,
    DEFAULT_HELD_OUT_FRACTION,
    MAX_BUDGET,
    MAX_HELD_OUT_FRACTION,
)
from promptmill.engine.versions import PromptTemplate
from promptmill.errors import InvalidRequestError
from promptmill.eval_types import TestCase
from promptmill.types import check_message_order

MAX_CONCURRENCY = 16


class PromptParam(BaseModel):
    """A prompt as the prompt tools return it: ``messages`` (text) and ``system``."""

    model_config = ConfigDict(title="OptimizePrompt")

    messages: list[MessageParam] = Field(
        min_length=1,
        description="User messages, optionally followed by one assistant prefill; "
        "variables are written {{NAME}} and filled from each case's `vars`.",
    )
    system: StrictStr = ""

    @model_validator(mode="after")
    def _check_order(self) -> PromptParam:
        check_message_order(self.messages)
        return self

    def to_template(self) -> PromptTemplate:
        return PromptTemplate(
            messages=[m.to_prompt_message() for m in self.messages], system=self.system
        )


class OptimizeRequest(BaseModel):
    """Optimize ``prompt`` (or a prompt generated for ``task``) on labelled ``cases``."""

    prompt: PromptParam | None = Field(
        default=None, description="The prompt to optimize. Send this or `task`."
    )
    task: StrictStr | None = Field(
        default=None,
        min_length=1,
        description="A task to generate the prompt from first (as generate_prompt does); "
        "its variables are renamed to the cases' variables.",
    )
    target_model: TargetModel | None = None
    cases: list[TestCase] = Field(
        min_length=1,
        description="Labelled cases: `vars` fill the prompt's variables, `expected` is the "
        "output value-based graders compare with, `notes` guide the rubric judge.",
    )
    graders: list[dict[str, Any]] = Field(
        min_length=1,
        description="What decides whether an output is good, as in evaluation runs: objects "
        f"with a `type` among {', '.join(GRADERS)}; a case passes when every grader that "
        "can decide passes.",
        examples=[[{"type": "exact"}]],
    )
    budget: StrictInt = Field(
        default=DEFAULT_BUDGET,
        ge=1,
        le=MAX_BUDGET,
        description="The most model calls to make: proposals, evaluations and judges. "
        "It must cover the original on every case.",
    )
    held_out_fraction: float = Field(
        default=DEFAULT_HELD_OUT_FRACTION,
        ge=0.0,
        le=MAX_HELD_OUT_FRACTION,
        description="The share of cases held out (seeded) to score the result on.",
    )
    seed: StrictInt = Field(default=0, description="Seeds the split and the example choice.")
    concurrency: StrictInt = Field(default=4, ge=1, le=MAX_CONCURRENCY)
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    max_tokens: StrictInt = Field(
        default=1024, ge=1, le=8192, description="The answer length cap of each evaluation."
    )
    stream: StrictBool | None = Field(
        default=None,
        description="`true` answers with Server-Sent Events (`progress` events with the calls "
        "spent, then one `result` or `error` event). Same as `Accept: text/event-stream`.",
    )

    @model_validator(mode="after")
    def _prompt_or_task(self) -> OptimizeRequest:
        # InvalidRequestError, not ValueError, so that the 400 names the field as written.
        if self.prompt is not None and self.task is not None:
            raise InvalidRequestError("prompt: send either a prompt or a task, not both")
        if self.prompt is None and self.task is None:
            raise InvalidRequestError("prompt: required (or a task to generate one from)")
        return self
