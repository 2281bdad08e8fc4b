"""The plain values the store takes and returns.

They are frozen dataclasses rather than ORM objects so callers (the HTTP layer, the
CLI, the playground) never hold a live database session, and can pass them between
threads freely. Workspaces are named by their ``name`` everywhere at this level; the
internal ids stay inside the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class _UsageLike(Protocol):
    """Anything with token counts, such as ``promptmill.engine.types.Usage``.

    It may also carry ``reused_input_tokens``, ``evaluated_input_tokens`` and
    ``seconds`` (``promptmill.types.MeteredUsage``); the store keeps them when present.
    """

    input_tokens: int
    output_tokens: int


UsageEntry = Mapping[str, Any] | _UsageLike

USAGE_DETAILS = ("reused_input_tokens", "evaluated_input_tokens", "seconds")
"""The optional per-model-call fields a usage entry may carry, beyond the two token counts."""


@dataclass(frozen=True, kw_only=True)
class ApiKeyInfo:
    """An API key as it may be shown: never the secret, only its display ``prefix``."""

    id: str
    workspace: str
    name: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """One API call, as the HTTP layer reports it after answering.

    ``usage`` is the API's list of ``{"input_tokens", "output_tokens"}`` (one per model
    call); the store also keeps the sums so totals need no JSON parsing. ``status`` is
    the HTTP status returned; anything ``>= 400`` counts as an error. ``id`` may be
    given (for example the response's ``request-id``) so logs and history line up;
    otherwise the store makes one.
    """

    key_id: str | None
    workspace: str
    endpoint: str
    target_model: str | None = None
    backend: str = ""
    model: str = ""
    usage: Sequence[UsageEntry] = ()
    latency_ms: float = 0.0
    status: int = 200
    error_type: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    response: Mapping[str, Any] | None = None
    id: str | None = None


@dataclass(frozen=True, kw_only=True)
class StoredCall:
    """A recorded call read back, with its request and response (for the history view)."""

    id: str
    key_id: str | None
    workspace: str
    endpoint: str
    target_model: str | None
    backend: str
    model: str
    usage: list[dict[str, Any]]
    input_tokens: int
    output_tokens: int
    latency_ms: float
    status: int
    error_type: str | None
    request: dict[str, Any]
    response: dict[str, Any] | None
    created_at: datetime
    reused_input_tokens: int | None = None
    evaluated_input_tokens: int | None = None
    model_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``created_at`` as ISO 8601)."""
        return {
            "id": self.id,
            "key_id": self.key_id,
            "workspace": self.workspace,
            "endpoint": self.endpoint,
            "target_model": self.target_model,
            "backend": self.backend,
            "model": self.model,
            "usage": self.usage,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "reused_input_tokens": self.reused_input_tokens,
            "evaluated_input_tokens": self.evaluated_input_tokens,
            "model_seconds": self.model_seconds,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "error_type": self.error_type,
            "request": self.request,
            "response": self.response,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, kw_only=True)
class WorkspaceUsage:
    """Totals of one workspace's calls.

    ``errors`` counts calls answered with a status ``>= 400``. The latencies are
    ``None`` for a workspace without calls; ``p50_latency_ms`` is the median.
    ``reused_input_tokens`` and ``model_seconds`` sum what the calls that reported them
    said (``None`` when none did).
    """

    workspace: str
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    mean_latency_ms: float | None
    p50_latency_ms: float | None
    by_endpoint: dict[str, int]
    reused_input_tokens: int | None = None
    model_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "calls": self.calls,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "reused_input_tokens": self.reused_input_tokens,
            "model_seconds": self.model_seconds,
            "mean_latency_ms": self.mean_latency_ms,
            "p50_latency_ms": self.p50_latency_ms,
            "by_endpoint": dict(self.by_endpoint),
        }


# --- evaluation ---------------------------------------------------------------------

RUN_STATUSES = ("queued", "running", "completed", "cancelled", "failed")
"""Every status a run can have, in lifecycle order."""

ACTIVE_RUN_STATUSES = frozenset({"queued", "running"})
"""Statuses of a run that still has work to do; the others are final."""


@dataclass(frozen=True, kw_only=True)
class PromptVersionRecord:
    """One immutable version of a named prompt.

    ``messages`` are ``{"role", "content"}`` dicts as saved (the HTTP layer's shape);
    ``content_hash`` is computed by the caller from the content (the engine's
    ``PromptTemplate.content_hash``), so the store never interprets a prompt.
    """

    id: str
    workspace: str
    name: str
    number: int
    content_hash: str
    messages: list[dict[str, Any]]
    system: str
    variables: list[str]
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class PromptSummary:
    """A named prompt in a listing: its newest version number and when that was saved."""

    name: str
    latest_version: int
    versions: int
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class DatasetRecord:
    """A named list of test cases, each a ``{"vars", "expected", "notes"}`` dict."""

    workspace: str
    name: str
    cases: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class EvalRunRecord:
    """A run as stored, with how many of its ``total`` results exist (``done``).

    ``errors`` counts results whose model call failed (``error_type`` set). ``spec``
    and ``cases`` are the JSON the run was created with.
    """

    id: str
    workspace: str
    status: str
    spec: dict[str, Any]
    cases: list[dict[str, Any]]
    total: int
    done: int
    errors: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


@dataclass(frozen=True, kw_only=True)
class RunCounts:
    """How many results a run holds, and how many of them are errors."""

    done: int
    errors: int


@dataclass(frozen=True, kw_only=True)
class EvalResultRecord:
    """One variant's result on one case: the fields of the engine's ``CaseResult``."""

    case_index: int
    variant_index: int
    input: dict[str, Any]
    output: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    grades: list[dict[str, Any]]
    passed: bool | None
    score: float | None
    error_type: str | None = None
    error_message: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalResultRecord:
        """From a ``CaseResult.model_dump()`` (extra keys are ignored)."""
        return cls(
            case_index=int(data["case_index"]),
            variant_index=int(data["variant_index"]),
            input=dict(data["input"]),
            output=str(data["output"]),
            input_tokens=int(data["input_tokens"]),
            output_tokens=int(data["output_tokens"]),
            latency_ms=float(data["latency_ms"]),
            grades=[dict(grade) for grade in data["grades"]],
            passed=data["passed"],
            score=data["score"],
            error_type=data.get("error_type"),
            error_message=data.get("error_message"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (a ``CaseResult`` validates from it)."""
        return {
            "case_index": self.case_index,
            "variant_index": self.variant_index,
            "input": self.input,
            "output": self.output,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_ms": self.latency_ms,
            "grades": self.grades,
            "passed": self.passed,
            "score": self.score,
            "error_type": self.error_type,
            "error_message": self.error_message,
        }
