"""The tables, as SQLAlchemy 2 typed ORM classes.

The schema itself is created by the Alembic migrations in ``migrations/versions``;
these classes must describe the same schema (a test compares them). Keep both in step:
a change here needs a new migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware, in UTC.

    PostgreSQL keeps the zone (``timestamptz``); SQLite keeps none, so values are
    stored as naive UTC and marked UTC again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Call(Base):
    """One recorded API call.

    ``seq`` is a surrogate integer key that grows with insertion order: it breaks ties
    between calls recorded within the same clock tick, so "newest first" is exact.
    """

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_workspace_id_created_at", "workspace_id", "created_at"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(128), unique=True)
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    endpoint: Mapped[str] = mapped_column(String(64))
    target_model: Mapped[str | None] = mapped_column(String(256))
    backend: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256))
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    usage: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Migration 0004: where the input went and the model's time, summed over the call's
    # model calls; null unless every one of them reported it.
    reused_input_tokens: Mapped[int | None] = mapped_column(Integer)
    evaluated_input_tokens: Mapped[int | None] = mapped_column(Integer)
    model_seconds: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[int] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- evaluation (migration 0002) ---------------------------------------------------


class Prompt(Base):
    """A named prompt of a workspace; its content lives in immutable ``PromptVersion`` rows."""

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_prompts_workspace_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PromptVersion(Base):
    """One saved content of a prompt, numbered 1, 2, ... per prompt; never changed."""

    __tablename__ = "prompt_versions"
    __table_args__ = (
        UniqueConstraint("prompt_id", "number", name="uq_prompt_versions_prompt_number"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    prompt_id: Mapped[str] = mapped_column(ForeignKey("prompts.id"))
    number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    variables: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Dataset(Base):
    """A named list of test cases; saving again replaces the cases."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_datasets_workspace_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(200))
    cases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvalRun(Base):
    """An evaluation run: what to run (``spec``), on which cases (a snapshot), and its state.

    ``status`` is ``queued``, ``running``, ``completed``, ``cancelled`` or ``failed``; the
    last three are final. ``total`` is the number of results the run will hold (cases
    times variants).
    """

    __tablename__ = "eval_runs"
    __table_args__ = (
        Index("ix_eval_runs_workspace_id_created_at", "workspace_id", "created_at"),
        Index("ix_eval_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    status: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    cases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)


class EvalResult(Base):
    """One variant's result on one case of a run.

    The primary key is (run, case, variant): a result is written at most once, so a chunk
    of work that runs twice (after a crash, or on two servers) adds nothing the second time.
    """

    __tablename__ = "eval_results"

    run_id: Mapped[str] = mapped_column(ForeignKey("eval_runs.id"), primary_key=True)
    case_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    variant_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    output: Mapped[str] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    grades: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- the shared rate limit (migration 0003) ------------------------------------------


class RateLimitBucket(Base):
    """One rate-limited bucket (a key, or a client address's failed key checks).

    The row exists so that a check can lock it: the upsert that touches it takes a row
    lock in PostgreSQL until the transaction ends, which serializes the checks of one
    bucket across processes. ``touched_at`` (epoch seconds) lets idle buckets be purged.
    """

    __tablename__ = "rate_limit_buckets"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    touched_at: Mapped[float] = mapped_column(Float)


class RateLimitHit(Base):
    """One accepted request of a bucket, at ``at`` (epoch seconds): the sliding log."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_bucket_at", "bucket", "at"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(200))
    at: Mapped[float] = mapped_column(Float)
