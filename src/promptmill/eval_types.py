"""The evaluation API's shapes, one pydantic model each, shared by every layer.

The engine builds ``TestCase``, ``Grade``, ``CaseResult``, ``VariantSummary`` and
``PairedTest``; the HTTP layer declares the response models below as ``response_model``
(so one class builds the body and documents it in ``/openapi.json``); the client
validates answers into the very same classes. Like ``promptmill.types`` this module
imports only pydantic and promptmill's core, so the light client install (httpx and
pydantic, no server, no engine backends) can use it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from promptmill.types import PromptMessage, Usage

RunStatus = Literal["queued", "running", "completed", "cancelled", "failed"]
FINAL_RUN_STATUSES: frozenset[str] = frozenset({"completed", "cancelled", "failed"})
"""A run in one of these states will not change any more."""


# --- engine values ------------------------------------------------------------------


class TestCase(BaseModel):
    """One case: ``vars`` fill the prompt's ``{{VARIABLES}}``; ``expected`` is the output
    value-based graders compare with; ``notes`` are grading notes for the rubric judge."""

    __test__ = False  # not a pytest test class, despite the name

    vars: dict[str, str]
    expected: str | None = None
    notes: str | None = None

    @field_validator("expected", "notes")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value if value else None


class Grade(BaseModel):
    """One grader's verdict on one output. ``score`` is 0..1, or 1..5 for the rubric."""

    grader: str
    passed: bool | None
    score: float | None
    reason: str


class CaseResult(BaseModel):
    """The outcome of one variant on one case. ``passed`` is true when every grade that
    could be decided passed (None when none could); ``score`` is the mean grade score on
    a 0..1 scale. A failed model call leaves ``error_type``/``error_message`` set."""

    case_index: int = Field(ge=0)
    variant_index: int = Field(ge=0)
    input: dict[str, Any] = Field(description="The filled prompt (`messages`, `system`).")
    output: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    grades: list[Grade] = Field(default_factory=list)
    passed: bool | None = None
    score: float | None = Field(default=None, description="Mean grade score on a 0..1 scale.")
    error_type: str | None = None
    error_message: str | None = None


class VariantSummary(BaseModel):
    label: str
    cases: int
    errors: int
    pass_rate: float | None
    mean_score: float | None
    input_tokens: int
    output_tokens: int
    mean_latency_ms: float | None
    p50_latency_ms: float | None


class PairedTest(BaseModel):
    """A variant against the baseline on the cases both answered without error.

    ``wins``/``losses`` count cases the variant passed and the baseline failed, and the
    reverse (McNemar's discordant pairs); ``wilcoxon_p`` tests the paired scores.
    """

    baseline: str
    variant: str
    n: int
    wins: int
    losses: int
    mcnemar_p: float | None
    wilcoxon_p: float | None


# --- prompts ------------------------------------------------------------------------


class PromptRef(BaseModel):
    """Which saved prompt version a variant came from (``None`` for an inline prompt)."""

    name: str
    version: int


class PromptVersion(BaseModel):
    """One immutable version of a named prompt."""

    id: str
    name: str
    number: int = Field(description="1, 2, ... per prompt.")
    content_hash: str = Field(description="SHA-256 of the canonical content.")
    messages: list[PromptMessage]
    system: str
    variables: list[str] = Field(description="`{{NAME}}` placeholders, in order of appearance.")
    created_at: datetime


class PromptVersionList(BaseModel):
    data: list[PromptVersion]


class PromptListItem(BaseModel):
    name: str
    latest_version: int
    versions: int
    updated_at: datetime


class PromptList(BaseModel):
    data: list[PromptListItem]


class PromptDiff(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from", description="The older version number.")
    to: int
    diff: str = Field(description='A unified diff of the readable renderings; "" when equal.')


# --- datasets and cases -------------------------------------------------------------


class Dataset(BaseModel):
    name: str
    cases: list[TestCase]
    variables: list[str] = Field(description="Every variable the cases fill, first seen first.")
    created_at: datetime
    updated_at: datetime


class DatasetListItem(BaseModel):
    name: str
    cases: int = Field(description="How many cases it holds.")
    variables: list[str]
    updated_at: datetime


class DatasetList(BaseModel):
    data: list[DatasetListItem]


class GenerateCasesResponse(BaseModel):
    cases: list[TestCase]
    usage: list[Usage] = Field(description="One entry per model call.")
    dataset: str | None = Field(default=None, description="The dataset saved, if `save_as`.")


# --- runs ---------------------------------------------------------------------------


class RunVariantInfo(BaseModel):
    label: str
    prompt_ref: PromptRef | None = Field(description="The saved version, or null if inline.")
    model: str | None


class EvalRun(BaseModel):
    """A run's state; ``summary`` and ``comparison`` cover the results stored so far."""

    id: str
    status: RunStatus
    total: int = Field(description="Results the run will hold: cases times variants.")
    done: int
    errors: int = Field(description="Results whose model call failed.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = Field(description="Why the run failed, if it did.")
    variants: list[RunVariantInfo]
    graders: list[dict[str, Any]]
    summary: list[VariantSummary]
    comparison: list[PairedTest] = Field(description="Each variant against variant 0.")

    @property
    def finished(self) -> bool:
        """True once the run is completed, cancelled or failed."""
        return self.status in FINAL_RUN_STATUSES


class EvalRunList(BaseModel):
    data: list[EvalRun]


class RunResult(CaseResult):
    """One variant's result on one case, with the variant's label and the case itself."""

    variant: str = Field(description="The variant's label.")
    vars: dict[str, str]
    expected: str | None
    notes: str | None


class RunResultList(BaseModel):
    data: list[RunResult]
    has_more: bool


class RunProgress(BaseModel):
    """The data of an SSE ``progress`` event of ``GET runs/{id}/events``."""

    done: int
    total: int
    status: str
