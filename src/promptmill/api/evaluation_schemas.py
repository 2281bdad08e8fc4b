"""Request models of the evaluation endpoints (``/v1/promptmill/...``).

One model per shape: it parses the request and documents ``/openapi.json``. The
response models live in ``promptmill.eval_types`` (with the engine's ``TestCase``,
``Grade``, ``VariantSummary`` and ``PairedTest``), so the API, the client and the engine
share one definition and the light client install can import them. Checks that span
fields (a prompt given by name *or* by content) raise ``InvalidRequestError`` naming the
field from ``check``-style functions in the routes, since pydantic's model-level errors
carry no field path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr
from pydantic.json_schema import SkipJsonSchema

from promptmill.api.schemas import MESSAGE_ORDER_SCHEMA, MessageParam
from promptmill.engine.cases import MAX_GENERATED_CASES
from promptmill.engine.graders import GRADERS
from promptmill.eval_types import TestCase

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
        json_schema_extra=MESSAGE_ORDER_SCHEMA,
    )
    system: StrictStr = ""


class PromptSelector(BaseModel):
    """A prompt: a saved one by ``name`` (and ``version``, default the latest), or inline."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["name"]}, {"required": ["messages"]}]}
    )

    name: StrictStr | SkipJsonSchema[None] = Field(
        default=None, description="A saved prompt's name."
    )
    version: Annotated[int, Field(ge=1)] | SkipJsonSchema[None] = Field(
        default=None, description="Default: the latest."
    )
    messages: (
        Annotated[list[MessageParam], Field(min_length=1, json_schema_extra=MESSAGE_ORDER_SCHEMA)]
        | SkipJsonSchema[None]
    ) = Field(default=None, description="An inline prompt.")
    system: StrictStr = ""


# --- datasets -----------------------------------------------------------------------


class SaveDatasetRequest(BaseModel):
    """Either ``cases``, or ``format`` and ``content`` (a CSV or JSONL file's text).

    CSV: one column per variable plus the reserved `expected` and `notes` columns.
    JSONL: `{"vars": {...}, "expected": ..., "notes": ...}` or flat objects per line.
    """

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["cases"]}, {"required": ["format", "content"]}]}
    )

    cases: list[TestCase] | SkipJsonSchema[None] = None
    format: Literal["csv", "jsonl"] | SkipJsonSchema[None] = None
    content: StrictStr | SkipJsonSchema[None] = None


# --- case generation ----------------------------------------------------------------


class GenerateCasesRequest(BaseModel):
    prompt: PromptSelector
    count: int = Field(default=10, ge=1, le=MAX_GENERATED_CASES)
    save_as: StrictStr | None = Field(
        default=None, description="Also save the cases as this dataset (replacing it)."
    )
    model: StrictStr | None = Field(default=None, description="Model override for the writer.")


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
    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["cases"]}, {"required": ["dataset"]}]}
    )

    variants: list[RunVariantRequest] = Field(
        min_length=1, max_length=10, description="Variant 0 is the baseline of the comparison."
    )
    cases: list[TestCase] | SkipJsonSchema[None] = Field(
        default=None, description="Inline cases, or `dataset`."
    )
    dataset: StrictStr | SkipJsonSchema[None] = Field(
        default=None, description="A saved dataset's name."
    )
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


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    SavePromptRequest,
    SaveDatasetRequest,
    GenerateCasesRequest,
    CreateRunRequest,
)
