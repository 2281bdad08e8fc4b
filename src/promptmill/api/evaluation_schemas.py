"""Request and response models of the evaluation endpoints (``/v1/promptmill/...``).

One model per shape: it parses the request or builds the response, and documents
``/openapi.json``. Engine models (``TestCase``, ``Grade``, ``VariantSummary``,
``PairedTest``, ``Usage``) are used as they are, so the API, the client and the engine
share one definition. Checks that span fields (a prompt given by name *or* by content)
raise ``InvalidRequestError`` naming the field from ``check``-style functions in the
routes, since pydantic's model-level errors carry no field path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from promptmill.api.schemas import MessageParam
from promptmill.engine.cases import MAX_GENERATED_CASES, TestCase
from promptmill.engine.evaluation import PairedTest, VariantSummary
from promptmill.engine.graders import GRADERS, Grade
from promptmill.engine.types import PromptMessage, Usage
from promptmill.jobs import PromptRef

Name = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[\w.-]+$",
        description="Letters, digits, `_`, `.` and `-` (it appears in URL paths).",
        examples=["chef"],
    ),
]

_GRADER_KINDS = ", ".join(f"`{kind}`" for kind in GRADERS)


# --- prompts ------------------------------------------------------------------------


class SavePromptRequest(BaseModel):
    """A prompt tool's response body plus a ``name`` saves as it is (other keys ignored)."""

    name: Name
    messages: list[MessageParam] = Field(
        min_length=1,
        description="User messages, then optionally one assistant prefill (as the prompt "
        "tools return them). `{{VARIABLES}}` are detected in them and in `system`.",
    )
    system: StrictStr = ""


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


class PromptSelector(BaseModel):
    """A prompt: a saved one by ``name`` (and ``version``, default the latest), or inline."""

    name: StrictStr | None = Field(default=None, description="A saved prompt's name.")
    version: int | None = Field(default=None, ge=1, description="Default: the latest.")
    messages: list[MessageParam] | None = Field(default=None, description="An inline prompt.")
    system: StrictStr = ""


# --- datasets -----------------------------------------------------------------------


class SaveDatasetRequest(BaseModel):
    """Either ``cases``, or ``format`` and ``content`` (a CSV or JSONL file's text).

    CSV: one column per variable plus the reserved `expected` and `notes` columns.
    JSONL: `{"vars": {...}, "expected": ..., "notes": ...}` or flat objects per line.
    """

    cases: list[TestCase] | None = None
    format: Literal["csv", "jsonl"] | None = None
    content: StrictStr | None = None


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


# --- case generation ----------------------------------------------------------------


class GenerateCasesRequest(BaseModel):
    prompt: PromptSelector
    count: int = Field(default=10, ge=1, le=MAX_GENERATED_CASES)
    save_as: StrictStr | None = Field(
        default=None, description="Also save the cases as this dataset (replacing it)."
    )
    model: StrictStr | None = Field(default=None, description="Model override for the writer.")


class GenerateCasesResponse(BaseModel):
    cases: list[TestCase]
    usage: list[Usage] = Field(description="One entry per model call.")
    dataset: str | None = Field(default=None, description="The dataset saved, if `save_as`.")


# --- runs ---------------------------------------------------------------------------


class RunVariantRequest(BaseModel):
    prompt: PromptSelector
    label: StrictStr | None = Field(
        default=None, max_length=200, description="Default: `name@version`, or `variant N`."
    )
    model: StrictStr | None = Field(
        default=None, max_length=256, description="Run this variant on another model."
    )


class CreateRunRequest(BaseModel):
    variants: list[RunVariantRequest] = Field(
        min_length=1, max_length=10, description="Variant 0 is the baseline of the comparison."
    )
    cases: list[TestCase] | None = Field(default=None, description="Inline cases, or `dataset`.")
    dataset: StrictStr | None = Field(default=None, description="A saved dataset's name.")
    graders: list[dict[str, Any]] = Field(
        default_factory=list,
        description=f"Grader specs, each with a `type`: one of {_GRADER_KINDS}. "
        "`exact`/`contains` (`value`, `case_sensitive`), `regex` (`pattern`, `flags`), "
        "`json` (`schema`), `numeric` (`value`, `tolerance`), `rubric` (`rubric`, "
        "`threshold`); without `value`, the case's `expected` is used.",
    )
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=1, le=32768)
    concurrency: int = Field(default=4, ge=1, le=32, description="Model calls in flight.")


class RunVariantInfo(BaseModel):
    label: str
    prompt_ref: PromptRef | None = Field(description="The saved version, or null if inline.")
    model: str | None


class EvalRun(BaseModel):
    """A run's state; ``summary`` and ``comparison`` cover the results stored so far."""

    id: str
    status: Literal["queued", "running", "completed", "cancelled", "failed"]
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


class EvalRunList(BaseModel):
    data: list[EvalRun]


class RunResult(BaseModel):
    """One variant's result on one case, with the case itself."""

    case_index: int
    variant_index: int
    variant: str = Field(description="The variant's label.")
    vars: dict[str, str]
    expected: str | None
    notes: str | None
    input: dict[str, Any] = Field(description="The filled prompt (`messages`, `system`).")
    output: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    grades: list[Grade]
    passed: bool | None
    score: float | None = Field(description="Mean grade score on a 0..1 scale.")
    error_type: str | None
    error_message: str | None


class RunResultList(BaseModel):
    data: list[RunResult]
    has_more: bool


class RunProgress(BaseModel):
    """The data of an SSE ``progress`` event."""

    done: int
    total: int
    status: str


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    SavePromptRequest,
    SaveDatasetRequest,
    GenerateCasesRequest,
    CreateRunRequest,
)
