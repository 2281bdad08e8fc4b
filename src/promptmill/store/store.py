"""``Store``: API keys, workspaces and call records, behind one small class.

This module, ``evaluation`` (prompts, datasets and runs) and ``rate_limits`` (the shared
rate limit's logs), whose methods ``Store`` inherits, are the only ones that issue SQL.
It is safe to share one ``Store`` between many worker threads: it holds one SQLAlchemy
engine (a connection pool) and opens a short session per method call, so no ORM object
ever leaves it.

On SQLite, write transactions start with ``BEGIN IMMEDIATE``: they take the write lock
up front and wait for it (busy timeout) instead of failing with "database is locked"
when a read-then-write transaction loses a race with another writer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Connection, Engine, case, create_engine, event, func, insert, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from promptmill.errors import InvalidRequestError, NotFoundError
from promptmill.store.evaluation import EvaluationRecords
from promptmill.store.group_commit import GroupCommit
from promptmill.store.key_cache import recent_keys
from promptmill.store.migrate import upgrade_to_head
from promptmill.store.models import ApiKey, Call, Workspace, utcnow
from promptmill.store.rate_limits import RateLimitRecords
from promptmill.store.records import (
    USAGE_DETAILS,
    ApiKeyInfo,
    CallRecord,
    StoredCall,
    UsageEntry,
    WorkspaceUsage,
)
from promptmill.store.workspaces import check_workspace_name, get_or_create_workspace, new_id

SECRET_PREFIX = "sk-pm-"
"""Every secret starts with this, so leaked keys are recognisable (and greppable)."""

PREFIX_LENGTH = 12
"""How many leading characters of a secret are kept for display (``sk-pm-`` + 6)."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite connection waits for another writer before giving up."""

MAX_RECENT_CALLS = 1000


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest under which a secret is stored and looked up.

    A fast, unsalted hash is the right tool here, unlike for passwords: our secrets are
    256 bits from ``secrets.token_urlsafe(32)``, so there is no dictionary to try and no
    brute force that a slow hash would meaningfully slow down, and a deterministic hash
    lets ``authenticate`` find the key with one indexed lookup per request instead of
    running a deliberately slow KDF against every stored key.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Store(EvaluationRecords, RateLimitRecords):
    """Keys, workspaces, calls, evaluations and the shared rate limit in one SQL database
    (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose schema is already at head; most callers want ``open``."""
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        # An in-memory SQLite database lives in one connection that every thread shares;
        # two transactions on it at once would collide, so they take turns.
        self._one_at_a_time: AbstractContextManager[object] = (
            threading.RLock() if isinstance(engine.pool, StaticPool) else nullcontext()
        )
        # Workspace name -> id, filled by committed call records (``record_call``).
        self._workspace_ids: dict[str, str] = {}
        self._call_commits = GroupCommit(self._write_calls)
        # Which database the process-wide key cache files this store's keys under: an
        # in-memory database is private to its Store.
        self._key_scope = (
            f"memory:{id(self)}"
            if isinstance(engine.pool, StaticPool)
            else engine.url.render_as_string(hide_password=True)
        )

    @classmethod
    def open(cls, url: str) -> Self:
        """Connect to ``url`` and migrate its schema to head.

        For a SQLite file, the parent folder is created first. ``postgresql://`` URLs
        without a driver use psycopg 3 (the driver promptmill depends on).
        """
        engine = _create_engine(make_url(url))
        try:
            upgrade_to_head(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def in_memory(self) -> bool:
        """True for an in-memory SQLite database, which lives and dies with this process."""
        return isinstance(self.engine.pool, StaticPool)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._one_at_a_time, self._read() as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A session in a write transaction, committed when the block ends without error."""
        with self._one_at_a_time, self._write.begin() as session:
            yield session

    @contextmanager
    def _writing_connection(self) -> Iterator[Connection]:
        """``_writing`` without the ORM session, for the one insert on every request's path."""
        with self._one_at_a_time, self._write_engine.begin() as connection:
            yield connection

    # --- keys ---------------------------------------------------------------

    def create_key(
        self, workspace: str = "default", name: str | None = None
    ) -> tuple[ApiKeyInfo, str]:
        """Make a new key in ``workspace`` (created if new); return it and its secret.

        The secret is returned only here: the database keeps its hash and a short
        display prefix, so a lost secret cannot be recovered, only replaced.
        """
        workspace = check_workspace_name(workspace)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        with self._writing() as session:
            ws = get_or_create_workspace(session, workspace)
            key = ApiKey(
                id=new_id("key"),
                workspace_id=ws.id,
                name=name,
                prefix=secret[:PREFIX_LENGTH],
                secret_hash=hash_secret(secret),
                created_at=utcnow(),
                revoked_at=None,
            )
            session.add(key)
            session.flush()
            return _key_info(key, ws.name), secret

    def list_keys(self, workspace: str | None = None) -> list[ApiKeyInfo]:
        """Every key (revoked ones included), oldest first, optionally of one workspace."""
        query = select(ApiKey, Workspace.name).join(Workspace, ApiKey.workspace_id == Workspace.id)
        if workspace is not None:
            query = query.where(Workspace.name == workspace)
        query = query.order_by(ApiKey.created_at, ApiKey.id)
        with self._reading() as session:
            return [_key_info(key, ws_name) for key, ws_name in session.execute(query)]

    def revoke_key(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key; it stops authenticating immediately. Revoking twice is harmless.

        Once committed, the key leaves this process's cache of recently verified keys
        (``key_cache``), so no server of this process accepts it on the next request.
        Raises ``NotFoundError`` when no key has this id.
        """
        try:
            return self._revoke_key(key_id)
        finally:
            recent_keys.forget(key_id)

    def _revoke_key(self, key_id: str) -> ApiKeyInfo:
        with self._writing() as session:
            row = session.execute(
                select(ApiKey, Workspace.name)
                .join(Workspace, ApiKey.workspace_id == Workspace.id)
                .where(ApiKey.id == key_id)
            ).first()
            if row is None:
                raise NotFoundError(f"no API key with id {key_id!r}")
            key, ws_name = row
            if key.revoked_at is None:
                key.revoked_at = utcnow()
            return _key_info(key, ws_name)

    def authenticate(self, secret: str) -> ApiKeyInfo | None:
        """The live key this secret belongs to, or ``None`` if unknown or revoked.

        Reads the database on every call, so a revocation made anywhere takes effect
        on the next call; a live key is remembered for ``recently_verified``. The final
        comparison is constant-time.
        """
        digest = hash_secret(secret)
        revocations = recent_keys.revocations
        with self._reading() as session:
            row = session.execute(
                select(ApiKey, Workspace.name)
                .join(Workspace, ApiKey.workspace_id == Workspace.id)
                .where(ApiKey.secret_hash == digest)
            ).first()
        if row is None:
            return None
        key, ws_name = row
        if not hmac.compare_digest(key.secret_hash, digest) or key.revoked_at is not None:
            return None
        info = _key_info(key, ws_name)
        recent_keys.put(self._key_scope, digest, info, revocations)
        return info

    def recently_verified(self, secret: str, max_age: float) -> ApiKeyInfo | None:
        """The key of ``secret`` if ``authenticate`` found it live at most ``max_age`` seconds
        ago and no ``revoke_key`` of this process has revoked it since; no database read.

        ``None`` means "not known": call ``authenticate``. A revocation by another process
        is seen here only once the entry is older than ``max_age``.
        """
        return recent_keys.get(self._key_scope, hash_secret(secret), max_age)

    # --- calls --------------------------------------------------------------

    def record_call(self, record: CallRecord) -> str:
        """Store one call and return its id once it is committed. The workspace is created if new.

        Every tool call comes through here, so it is kept cheap: calls recorded at the
        same moment by different threads share one write transaction (``GroupCommit``;
        each caller still returns only after its own record is committed), committed
        without an fsync (SQLite's WAL with ``synchronous=NORMAL``, see
        ``_configure_sqlite``), as one Core insert of the rows rather than the ORM's
        unit of work. The workspace's id is remembered once committed (workspaces are
        never deleted or renamed), so a record of a known workspace is just its row.
        """
        call = _NewCall.of(record)
        self._call_commits.commit(call)
        return call.id

    def _write_calls(self, calls: Sequence[_NewCall]) -> list[BaseException | None]:
        """``GroupCommit``'s writer: the calls in one transaction, or each in its own.

        A batch that fails (a duplicate id, say) is written again one call at a time,
        so only the calls at fault fail, each with its own error.
        """
        try:
            self._insert_calls(calls)
        except Exception as exc:
            if len(calls) == 1:
                return [exc]
        else:
            return [None] * len(calls)
        errors: list[BaseException | None] = []
        for call in calls:
            try:
                self._insert_calls([call])
            except Exception as exc:
                errors.append(exc)
            else:
                errors.append(None)
        return errors

    def _insert_calls(self, calls: Sequence[_NewCall]) -> None:
        created: dict[str, str] = {}
        with self._writing_connection() as connection:
            rows = []
            for call in calls:
                workspace_id = self._workspace_ids.get(call.workspace) or created.get(
                    call.workspace
                )
                if workspace_id is None:
                    with Session(connection) as session:  # joins the transaction
                        workspace_id = get_or_create_workspace(session, call.workspace).id
                    created[call.workspace] = workspace_id
                rows.append({**call.row, "workspace_id": workspace_id})
            connection.execute(_INSERT_CALL, rows)
        self._workspace_ids.update(created)

    def usage_totals(self, workspace: str | None = None) -> list[WorkspaceUsage]:
        """Per-workspace totals, sorted by workspace name.

        Workspaces without calls are included (with zeros); an unknown ``workspace``
        gives an empty list.
        """
        is_error = case((Call.status >= 400, 1), else_=0)
        totals = (
            select(
                Workspace.id,
                Workspace.name,
                func.count(Call.seq),
                func.coalesce(func.sum(is_error), 0),
                func.coalesce(func.sum(Call.input_tokens), 0),
                func.coalesce(func.sum(Call.output_tokens), 0),
                func.avg(Call.latency_ms),
                func.sum(Call.reused_input_tokens),
                func.sum(Call.model_seconds),
            )
            .outerjoin(Call, Call.workspace_id == Workspace.id)
            .group_by(Workspace.id, Workspace.name)
            .order_by(Workspace.name)
        )
        endpoints = select(Call.workspace_id, Call.endpoint, func.count()).group_by(
            Call.workspace_id, Call.endpoint
        )
        if workspace is not None:
            totals = totals.where(Workspace.name == workspace)
            endpoints = endpoints.join(Workspace, Call.workspace_id == Workspace.id).where(
                Workspace.name == workspace
            )
        result: list[WorkspaceUsage] = []
        with self._reading() as session:
            by_endpoint: dict[str, dict[str, int]] = defaultdict(dict)
            for ws_id, endpoint, count in session.execute(endpoints):
                by_endpoint[ws_id][endpoint] = count
            for row in session.execute(totals):
                ws_id, name, calls, errors, tokens_in, tokens_out, mean, reused, seconds = row
                result.append(
                    WorkspaceUsage(
                        workspace=name,
                        calls=calls,
                        errors=int(errors),
                        input_tokens=int(tokens_in),
                        output_tokens=int(tokens_out),
                        mean_latency_ms=float(mean) if mean is not None else None,
                        p50_latency_ms=_median_latency(session, ws_id, calls),
                        by_endpoint=dict(sorted(by_endpoint[ws_id].items())),
                        reused_input_tokens=int(reused) if reused is not None else None,
                        model_seconds=float(seconds) if seconds is not None else None,
                    )
                )
        return result

    def recent_calls(self, workspace: str, limit: int = 50) -> list[StoredCall]:
        """The workspace's latest calls, newest first, with their request and response."""
        if not 1 <= limit <= MAX_RECENT_CALLS:
            raise InvalidRequestError(f"limit: expected 1 to {MAX_RECENT_CALLS}, got {limit}")
        query = (
            select(Call, Workspace.name)
            .join(Workspace, Call.workspace_id == Workspace.id)
            .where(Workspace.name == workspace)
            .order_by(Call.created_at.desc(), Call.seq.desc())
            .limit(limit)
        )
        with self._reading() as session:
            return [_stored_call(call, name) for call, name in session.execute(query)]

    def get_call(self, workspace: str, call_id: str) -> StoredCall | None:
        """One call by id, or ``None`` if it does not exist *in this workspace*."""
        query = (
            select(Call, Workspace.name)
            .join(Workspace, Call.workspace_id == Workspace.id)
            .where(Workspace.name == workspace, Call.id == call_id)
        )
        with self._reading() as session:
            row = session.execute(query).first()
        return _stored_call(*row) if row is not None else None


def _create_engine(url: URL) -> Engine:
    """An engine for ``url``; for SQLite, with WAL, foreign keys and a busy timeout."""
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    if in_memory:
        # One shared connection, or every pooled connection would see its own empty database.
        options["poolclass"] = StaticPool
        options["connect_args"]["check_same_thread"] = False
    elif not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """Pragmas on every new connection, and transactions SQLAlchemy begins itself.

    pysqlite's own transaction handling defers ``BEGIN`` until the first write and
    commits before DDL; turning it off and emitting ``BEGIN`` from SQLAlchemy (the
    documented recipe) gives real transactions, transactional DDL for migrations, and
    the choice of ``BEGIN IMMEDIATE`` for writes.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit
            # survives a crash of the process (what a resumed run relies on); only a
            # power loss can undo the last few. FULL's fsync per commit made each
            # evaluation result cost several milliseconds of the writer's lock.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _median_latency(session: Session, workspace_id: str, calls: int) -> float | None:
    """The median latency, read as the middle one or two rows (no SQL percentile needed)."""
    if calls == 0:
        return None
    middle = session.scalars(
        select(Call.latency_ms)
        .where(Call.workspace_id == workspace_id)
        .order_by(Call.latency_ms)
        .offset((calls - 1) // 2)
        .limit(1 if calls % 2 else 2)
    ).all()
    return sum(middle) / len(middle)


_INSERT_CALL = insert(Call)
"""The insert of a call record, built once. Every column is given but ``seq``, which the
database numbers: a Core insert of plain values, without the ORM's unit of work or an
instance to build per call."""


@dataclass(frozen=True)
class _NewCall:
    """A call record as the row to insert, but for its workspace's id (looked up at insert)."""

    id: str
    workspace: str
    row: dict[str, Any]

    @classmethod
    def of(cls, record: CallRecord) -> _NewCall:
        """The row of ``record``, stamped now; raises for an invalid workspace name."""
        usage = [_usage_dict(entry) for entry in record.usage]
        call_id = record.id or new_id("call")
        row = {
            "id": call_id,
            "key_id": record.key_id,
            "endpoint": record.endpoint,
            "target_model": record.target_model,
            "backend": record.backend,
            "model": record.model,
            "input_tokens": sum(u["input_tokens"] for u in usage),
            "output_tokens": sum(u["output_tokens"] for u in usage),
            "usage": usage,
            "reused_input_tokens": _sum_if_all(usage, "reused_input_tokens"),
            "evaluated_input_tokens": _sum_if_all(usage, "evaluated_input_tokens"),
            "model_seconds": _sum_if_all(usage, "seconds"),
            "latency_ms": float(record.latency_ms),
            "status": record.status,
            "error_type": record.error_type,
            "request": dict(record.request),
            "response": dict(record.response) if record.response is not None else None,
            "created_at": utcnow(),
        }
        return cls(call_id, check_workspace_name(record.workspace), row)


def _usage_dict(entry: UsageEntry) -> dict[str, Any]:
    """The two token counts, and the optional details the entry carries (none if ``None``)."""

    def field(name: str) -> Any:
        return entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, None)

    usage: dict[str, Any] = {
        "input_tokens": int(field("input_tokens")),
        "output_tokens": int(field("output_tokens")),
    }
    for name in USAGE_DETAILS:
        value = field(name)
        if value is not None:
            usage[name] = float(value) if name == "seconds" else int(value)
    return usage


def _sum_if_all(usage: list[dict[str, Any]], name: str) -> Any:
    """The sum of ``name`` over the entries, ``None`` unless every entry (and one at least) has it.

    A partial sum would read as a whole call's figure; ``None`` says it is not known.
    """
    if not usage or any(name not in entry for entry in usage):
        return None
    return sum(entry[name] for entry in usage)


def _key_info(key: ApiKey, workspace: str) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=key.id,
        workspace=workspace,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def _stored_call(call: Call, workspace: str) -> StoredCall:
    return StoredCall(
        id=call.id,
        key_id=call.key_id,
        workspace=workspace,
        endpoint=call.endpoint,
        target_model=call.target_model,
        backend=call.backend,
        model=call.model,
        usage=list(call.usage),
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        reused_input_tokens=call.reused_input_tokens,
        evaluated_input_tokens=call.evaluated_input_tokens,
        model_seconds=call.model_seconds,
        latency_ms=call.latency_ms,
        status=call.status,
        error_type=call.error_type,
        request=dict(call.request),
        response=dict(call.response) if call.response is not None else None,
        created_at=call.created_at,
    )
