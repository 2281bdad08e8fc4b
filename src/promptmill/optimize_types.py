"""The answer of ``POST /v1/promptmill/optimize``, one pydantic model, shared by every layer.

The engine (``promptmill.engine.optimize``) returns ``OptimizeResult``, the HTTP layer
declares it as the route's ``response_model`` (so the same class builds the body and
documents it in ``/openapi.json``) and the client validates responses into it. Only
pydantic and light promptmill modules are imported here (no grader, no server
dependency), so the core client install can use it.

Scores are on a 0..1 scale: ``score`` is the mean case score (a case whose call failed,
or that no grader could decide, counts 0), ``pass_rate`` the share of cases passed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from promptmill.engine.versions import PromptTemplate
from promptmill.types import Progress, Usage

_ALWAYS_SENT = ConfigDict(json_schema_serialization_defaults_required=True)

CandidateKind = Literal["original", "improved", "few_shot", "reasoning", "direct"]


class SplitScore(BaseModel):
    """How one prompt did on a set of cases."""

    model_config = _ALWAYS_SENT

    cases: int = Field(ge=0, description="Cases evaluated.")
    passed: int = Field(ge=0, description="Cases every deciding grader passed.")
    errors: int = Field(ge=0, description="Cases whose model call failed (they count 0).")
    pass_rate: float | None = Field(description="passed / cases; null without cases.")
    score: float | None = Field(
        description="Mean case score on 0..1 (failed or undecided cases count 0); null "
        "without cases."
    )


class OptimizeCandidate(BaseModel):
    """One prompt the optimizer tried, with its training scores beside the original's.

    A candidate is never evaluated on the training cases it shows (few-shot examples)
    or quotes (the failures its improvement was written from): ``train`` covers the
    other training cases, and ``original_train`` is the original on exactly those, so
    ``gain`` compares like with like.
    """

    model_config = _ALWAYS_SENT

    label: str
    kind: CandidateKind
    prompt: PromptTemplate | None = Field(
        description="The candidate prompt; null when proposing it failed (see `error`)."
    )
    exposed_cases: list[int] = Field(
        description="Indices (into the request's `cases`) of training cases shown or quoted "
        "in the prompt, hence not used to score it."
    )
    train: SplitScore | None
    original_train: SplitScore | None
    gain: float | None = Field(description="train.score - original_train.score.")
    mean_input_tokens: float | None = Field(
        description="Mean input tokens per evaluated case, as the backend counted them."
    )
    proposal_calls: int = Field(ge=0, description="Model calls spent writing the candidate.")
    evaluation_calls: int = Field(ge=0, description="Model calls spent evaluating it.")
    error: str | None = Field(default=None, description="Why the candidate could not be made.")
    stopped_early: bool = Field(
        default=False,
        description="Its evaluation stopped once winning every case left could not make it "
        "the best: `train` covers the cases scored by then.",
    )


class OptimizeSplit(BaseModel):
    """Which cases (indices into the request's ``cases``) trained and which were held out."""

    model_config = _ALWAYS_SENT

    train: list[int]
    held_out: list[int]


class OptimizeResult(BaseModel):
    """The best prompt found, its scores, the original's, and every candidate tried."""

    model_config = _ALWAYS_SENT

    prompt: PromptTemplate = Field(
        description="The best prompt: the original unless a candidate scored higher on the "
        "training cases (or as high with fewer tokens)."
    )
    label: str = Field(description="Which candidate `prompt` is (`original` when unchanged).")
    improved: bool = Field(description="Whether `prompt` differs from the original.")
    original: PromptTemplate = Field(
        description="The original prompt (the one generated from `task` when a task was sent)."
    )
    train: SplitScore = Field(description="`prompt` on the training cases it was scored on.")
    original_train: SplitScore = Field(description="The original on those same cases.")
    held_out: SplitScore | None = Field(description="`prompt` on the held-out cases.")
    original_held_out: SplitScore | None = Field(description="The original on the held-out cases.")
    candidates: list[OptimizeCandidate] = Field(
        description="Every candidate tried, in order, the original first."
    )
    split: OptimizeSplit
    calls: int = Field(ge=0, description="Model calls made (proposals, evaluations, judges).")
    budget: int = Field(ge=1, description="The most model calls the request allowed.")
    usage: list[Usage] = Field(description="Token counts, one entry per model call made.")
    stopped: str = Field(description="Why proposing stopped.")


class OptimizeProgress(Progress):
    """A ``progress`` event of an optimization: the pipeline's fields plus the calls spent."""

    calls: int = 0
    budget: int = 0
