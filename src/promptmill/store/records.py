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
    """Anything with token counts, such as ``promptmill.engine.types.Usage``."""

    input_tokens: int
    output_tokens: int


UsageEntry = Mapping[str, int] | _UsageLike


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
    usage: list[dict[str, int]]
    input_tokens: int
    output_tokens: int
    latency_ms: float
    status: int
    error_type: str | None
    request: dict[str, Any]
    response: dict[str, Any] | None
    created_at: datetime

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
    """

    workspace: str
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    mean_latency_ms: float | None
    p50_latency_ms: float | None
    by_endpoint: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "calls": self.calls,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "mean_latency_ms": self.mean_latency_ms,
            "p50_latency_ms": self.p50_latency_ms,
            "by_endpoint": dict(self.by_endpoint),
        }
