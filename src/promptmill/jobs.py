"""The task queue's wiring: evaluation runs as huey tasks, for the server and ``promptmill worker``.

A run is cut into chunks of ``CHUNK_CASES`` cases (times every variant); each chunk is
one task, ``evaluate_chunk(run_id, chunk)``. Where the queue lives follows the store,
so the default install needs nothing more and a scaled-out one shares the work:

- a SQLite store: ``SqliteHuey`` in ``PROMPTMILL_HOME/queue.db`` (processes on one
  machine share it; an in-memory store gets an in-memory queue);
- a PostgreSQL store: ``PostgresHuey`` on the same database (its own ``huey_*``
  tables; ``SELECT ... FOR UPDATE SKIP LOCKED`` to take a task, ``LISTEN/NOTIFY`` to
  wake idle workers), so every server and worker using the database shares the queue;
- ``PROMPTMILL_REDIS_URL`` set: ``RedisHuey`` on that server.

Why huey: one small, well-kept library covers all three (the embedded SQLite default,
PostgreSQL and Redis) with thread workers that can run inside the server process.
procrastinate is PostgreSQL-only; arq and taskiq need Redis or another broker to share
work, which the single-machine default does not have.

What makes this safe without hand-written leases:

- A chunk computes only the results the store does not hold yet and writes each one
  as it finishes; the store ignores a second write of the same (run, case, variant).
  So a chunk may run twice (re-enqueued at start-up after a crash, or on two servers)
  and nothing is lost or duplicated.
- huey removes a task from the queue when a worker takes it, so a task in flight when
  its process dies is gone: every process that starts (server or worker) re-enqueues
  the unfinished chunks of unfinished runs. A chunk interrupted by a clean shutdown
  puts itself back on the queue.
- The chunk checks the run's status before each case, so a cancel stops new cases
  at once; the chunk that finds every result stored marks the run completed.

A run's ``concurrency`` bounds the model calls in flight per chunk; a server with
``PROMPTMILL_EVAL_WORKERS`` threads may work on that many chunks at once.

Every chunk that calls the model is recorded as one call (endpoint ``eval_run``) of the
run's workspace and key, with one usage entry per model call it made (each variant's
answer and each rubric judge), so ``promptmill usage`` and the history count a run's
tokens whichever process did the work, and a chunk that runs twice records what each
execution spent.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import Huey, MemoryHuey, PostgresHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer, Worker
from huey.exceptions import ConfigurationError
from pydantic import BaseModel, Field
from sqlalchemy.engine import URL

from promptmill.backends.base import ChatBackend, ChatReply, ChatRequest
from promptmill.config import Settings
from promptmill.engine.evaluation import Evaluator, Variant
from promptmill.errors import APIError, OverloadedError, PromptmillError
from promptmill.eval_types import CaseResult, PromptRef, TestCase
from promptmill.store import CallRecord, EvalResultRecord, EvalRunRecord, Store
from promptmill.store.records import ACTIVE_RUN_STATUSES

logger = logging.getLogger("promptmill.jobs")
# Seconds a client is told to wait when the queue is unavailable: long enough for a
# Redis or PostgreSQL restart, short enough for an interactive retry.
QUEUE_RETRY_AFTER = 10.0

CHUNK_CASES = 8
"""Cases per task: small enough to spread a run over workers and lose little to a
crash, large enough that queue overhead stays negligible."""

RUN_ENDPOINT = "eval_run"
"""The endpoint name of the call records of evaluation runs (one per chunk executed)."""

QUEUE_NAME = "promptmill-eval"
TASK_NAME = "evaluate_chunk"
QUEUE_FILE = "queue.db"

# Idle workers poll the queue (SQLite has no push notifications): start fast, back off
# to this. A task enqueued by this very process wakes its idle workers at once (see
# ``_WakeableWorker``), so the backoff only delays work enqueued by other processes.
_MAX_POLL_DELAY_S = 0.5
_SHUTDOWN_TIMEOUT_S = 30.0
# Runs whose spec and case snapshot a process keeps parsed (they never change).
_CACHED_RUNS = 16


class RunVariant(Variant):
    """A variant as a run stores it: the engine's ``Variant`` plus where it came from."""

    prompt_ref: PromptRef | None = None


class RunSpec(BaseModel):
    """What a stored run evaluates; the ``spec`` JSON of ``eval_runs``.

    ``key_id`` is the key that created the run: its model calls are recorded under it.
    """

    variants: list[RunVariant] = Field(min_length=1)
    graders: list[dict[str, Any]]
    temperature: float = 0.0
    max_tokens: int = 1024
    concurrency: int = 4
    key_id: str | None = None


def chunk_count(cases: int) -> int:
    return -(-cases // CHUNK_CASES)


def chunk_cases(chunk: int, cases: int) -> range:
    """The case indexes of one chunk."""
    return range(chunk * CHUNK_CASES, min((chunk + 1) * CHUNK_CASES, cases))


def make_huey(settings: Settings, store: Store) -> Huey:
    """The queue for this store and settings (see the module docstring).

    The queue's name is derived from the store's database, so processes whose stores
    differ never take each other's tasks even when they share a queue file or a Redis
    server. An in-memory SQLite store, private to its process, gets an in-memory queue.
    Misconfiguration (no ``redis`` package for a Redis URL, say) raises ``APIError``
    naming the setting, so it fails at start-up rather than on the first run.
    """
    options: dict[str, Any] = {"results": False, "utc": True}
    url = store.engine.url
    name = _queue_name(url)
    try:
        if settings.redis_url:
            return RedisHuey(name, url=settings.redis_url, **options)
        if url.get_backend_name() == "postgresql":
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            huey = PostgresHuey(name, dsn=dsn, create_tables=False, **options)
            _create_postgres_queue_tables(huey, store)
            return huey
    except ConfigurationError as exc:
        setting = "PROMPTMILL_REDIS_URL" if settings.redis_url else "PROMPTMILL_DATABASE_URL"
        raise APIError(f"{setting}: cannot use it for the evaluation queue: {exc}") from exc
    if _sqlite_file(url) is None:
        return MemoryHuey(name, **options)
    home = settings.home_path
    home.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(home / QUEUE_FILE), **options)


_QUEUE_SCHEMA_LOCK = 0x70_6D_71_75_65_75_65  # "pmqueue": one advisory lock id, any database
"""The PostgreSQL advisory lock held while huey creates its tables."""


def _create_postgres_queue_tables(huey: Huey, store: Store) -> None:
    """Create huey's tables while holding a database-wide advisory lock.

    huey's ``create table if not exists`` is not safe when two processes run it at once
    (``serve --workers 2`` starts both together): PostgreSQL can fail the loser with a
    unique violation on ``pg_type``. The lock, taken through the store's own connection,
    makes the second process wait until the first has committed the tables.
    """
    from sqlalchemy import text

    with store.engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _QUEUE_SCHEMA_LOCK})
        huey.storage.initialize_schema()


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL; ``None`` for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    return Path(database.removeprefix("file:")).expanduser().resolve()


def _queue_name(url: URL) -> str:
    """``promptmill-eval-<12 hex>``: the same for every process using this database."""
    if url.get_backend_name() == "sqlite":
        identity = str(_sqlite_file(url) or f"memory-{id(url)}")
    else:
        identity = url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)
    return f"{QUEUE_NAME}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


class _WakeableWorker(Worker):  # type: ignore[misc]  # huey is untyped
    """huey's worker whose idle sleep also ends when ``wake`` is set.

    huey's worker sleeps between empty polls with a growing delay (up to
    ``_MAX_POLL_DELAY_S``); a run enqueued in this process would wait out that sleep
    before its first case. Setting ``wake`` after enqueueing starts it at once.
    """

    delay: float
    default_delay: float
    max_delay: float
    backoff: float

    def __init__(self, *args: Any, wake: threading.Event, **kwargs: Any) -> None:
        self.wake = wake
        super().__init__(*args, **kwargs)

    def sleep(self) -> None:
        if self.wake.wait(min(self.delay, self.max_delay)):
            # Every sleeping worker returns from this wait; the first to clear it does
            # not hide the wake-up from the others.
            self.wake.clear()
            self.delay = self.default_delay
        else:
            self.delay = min(self.delay * self.backoff, self.max_delay)


class _InProcessConsumer(Consumer):  # type: ignore[misc]  # huey is untyped
    """huey's consumer without its signal handlers (the host process, uvicorn or the
    worker command, owns the signals and calls ``stop``), with wakeable workers."""

    def __init__(self, huey: Huey, *, wake: threading.Event, **kwargs: Any) -> None:
        self.wake = wake  # before huey's __init__, which creates the workers
        super().__init__(huey, **kwargs)

    def _create_worker(self) -> _WakeableWorker:
        return _WakeableWorker(
            huey=self.huey,
            stop_flag=self.stop_flag,
            default_delay=self.default_delay,
            max_delay=self.max_delay,
            backoff=self.backoff,
            max_tasks=self.max_tasks,
            wake=self.wake,
        )

    def _set_signal_handlers(self) -> None:
        pass


@dataclass(frozen=True)
class _ParsedRun:
    """What a chunk needs of a stored run, parsed once per process: a run's spec and
    case snapshot never change after it is created."""

    spec: RunSpec
    cases: list[TestCase]
    total: int
    workspace: str


class _MeteredBackend:
    """Passes calls on to ``inner`` and keeps each reply's token counts, for the record."""

    def __init__(self, inner: ChatBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.usage: list[dict[str, int]] = []
        self._lock = threading.Lock()

    def chat(self, request: ChatRequest) -> ChatReply:
        reply = self.inner.chat(request)
        with self._lock:
            self.usage.append(
                {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}
            )
        return reply


class EvalJobs:
    """The evaluation queue of one process: enqueue runs, work on them, resume them.

    ``store`` and ``backend`` are the process's own (the server's, or the worker
    command's); ``timeout`` is the deadline of one model call.
    """

    def __init__(
        self, huey: Huey, store: Store, backend: ChatBackend, *, timeout: float = 120.0
    ) -> None:
        self.huey = huey
        self.store = store
        self.backend = backend
        self.timeout = timeout
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._consumer: _InProcessConsumer | None = None
        self._chunk_task = huey.task(name=TASK_NAME)(self.evaluate_chunk)
        self._parsed: OrderedDict[str, _ParsedRun] = OrderedDict()
        self._parsed_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, backend: ChatBackend) -> EvalJobs:
        return cls(make_huey(settings, store), store, backend, timeout=settings.request_timeout)

    # --- enqueueing -----------------------------------------------------------

    def enqueue_run(self, run: EvalRunRecord, chunks: Iterable[int] | None = None) -> None:
        """Put a run's chunks (all of them by default) on the queue.

        Raises ``OverloadedError`` when the queue's storage cannot take them (a Redis or
        PostgreSQL server gone, a locked file): huey raises that storage's own exception,
        which differs per storage, so any exception here means "the queue is unavailable";
        the detail is logged, never sent to the client.
        """
        for chunk in chunks if chunks is not None else range(chunk_count(len(run.cases))):
            try:
                self._chunk_task(run.id, chunk)
            except Exception as exc:
                logger.error("could not enqueue run %s chunk %d: %r", run.id, chunk, exc)
                raise OverloadedError(
                    "the evaluation queue is unavailable; try again shortly",
                    retry_after=QUEUE_RETRY_AFTER,
                ) from exc
            self._wake.set()  # the first chunk starts while the others are enqueued

    def resume_unfinished(self) -> int:
        """Re-enqueue the chunks that still lack results, of every unfinished run.

        A run whose results are all stored (its process died right after the last
        write) is marked completed instead. Returns the number of chunks enqueued.
        """
        enqueued = 0
        for run in self.store.unfinished_runs():
            variants = len(run.spec.get("variants", []))
            stored = self.store.result_keys(run.id)
            missing = [
                chunk
                for chunk in range(chunk_count(len(run.cases)))
                if any(
                    (case, variant) not in stored
                    for case in chunk_cases(chunk, len(run.cases))
                    for variant in range(variants)
                )
            ]
            if missing:
                self.enqueue_run(run, missing)
                enqueued += len(missing)
            else:
                self.store.set_run_status(run.id, "completed")
        if enqueued:
            logger.info("resumed unfinished evaluation runs: %d chunks enqueued", enqueued)
        return enqueued

    # --- working ----------------------------------------------------------------

    def start_workers(self, workers: int) -> None:
        """Start ``workers`` consumer threads in this process (none when 0)."""
        if workers <= 0 or self._consumer is not None:
            return
        self._stopping.clear()
        self._consumer = _InProcessConsumer(
            self.huey,
            wake=self._wake,
            workers=workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.5,
            max_delay=_MAX_POLL_DELAY_S,
            check_worker_health=False,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
        )
        self._consumer.start()

    def stop(self) -> None:
        """Stop the workers: running chunks stop before their next case and requeue."""
        self._stopping.set()
        self._wake.set()  # idle workers see the stop flag now, not after their sleep
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None
        self.huey.storage.close()

    def evaluate_chunk(self, run_id: str, chunk: int) -> None:
        """The task: compute and store the chunk's missing results (see module docstring)."""
        status = self.store.run_status(run_id)
        if status not in ACTIVE_RUN_STATUSES:
            return  # unknown, finished or cancelled
        run = self._parsed_run(run_id)
        if run is None:
            return
        spec, cases = run.spec, run.cases
        stored = self.store.result_keys(run_id)
        pairs = [
            (case, variant)
            for case in chunk_cases(chunk, len(cases))
            for variant in range(len(spec.variants))
            if (case, variant) not in stored
        ]
        if pairs:
            if status == "queued":
                self.store.set_run_status(run_id, "running")
            metered = _MeteredBackend(self.backend)
            started = time.perf_counter()
            evaluator = Evaluator(
                metered,
                concurrency=spec.concurrency,
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                timeout=self.timeout,
            )

            # Each worker thread reads the run's status in the transaction that writes
            # its result, and uses it for its very next check (nothing else happens in
            # between): a cancel is seen before the next case, without a read per case.
            seen = threading.local()

            def store_result(result: CaseResult) -> None:
                record = EvalResultRecord.from_dict(result.model_dump(mode="json"))
                seen.status = self.store.record_result_and_status(run_id, record)

            def should_stop() -> bool:
                status = getattr(seen, "status", None)
                seen.status = None
                if status is None:  # this thread's first case
                    status = self.store.run_status(run_id)
                return self._stopping.is_set() or status != "running"

            try:
                report = evaluator.run(
                    spec.variants,
                    cases,
                    spec.graders,
                    on_result=store_result,
                    should_stop=should_stop,
                    pairs=pairs,
                )
            except PromptmillError as exc:
                # Not a model failure (those are recorded per case): the run itself
                # cannot be evaluated, e.g. a grader that no longer validates.
                self._record_chunk(run_id, chunk, run, metered, started, error=exc)
                self.store.set_run_status(run_id, "failed", error=exc.message)
                return
            self._record_chunk(run_id, chunk, run, metered, started)
            if report.stopped and self._stopping.is_set():
                if self.store.run_status(run_id) == "running":
                    self._chunk_task(run_id, chunk)  # shutting down: leave it for the next
                return
        counts = self.store.counts(run_id)
        if counts.done >= run.total:
            self.store.set_run_status(run_id, "completed")

    def _record_chunk(
        self,
        run_id: str,
        chunk: int,
        run: _ParsedRun,
        metered: _MeteredBackend,
        started: float,
        *,
        error: PromptmillError | None = None,
    ) -> None:
        """Record the model calls of one chunk's execution as one call; never raises
        (a record that cannot be written is logged and the run goes on)."""
        record = CallRecord(
            key_id=run.spec.key_id,
            workspace=run.workspace,
            endpoint=RUN_ENDPOINT,
            backend=metered.name,
            model=metered.model,
            usage=list(metered.usage),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            status=error.status if error is not None else 200,
            error_type=error.error_type if error is not None else None,
            request={"run_id": run_id, "chunk": chunk},
        )
        try:
            self.store.record_call(record)
        except Exception:
            logger.exception("could not record the model calls of run %s chunk %d", run_id, chunk)

    def _parsed_run(self, run_id: str) -> _ParsedRun | None:
        """The run's spec and cases, parsed once per process rather than once per chunk
        (a 500-case run would otherwise read and validate its whole snapshot 63 times).
        ``None`` when the run is gone, or invalid (then it is marked failed)."""
        with self._parsed_lock:
            if run_id in self._parsed:
                self._parsed.move_to_end(run_id)
                return self._parsed[run_id]
        record = self.store.get_run(run_id)
        if record is None:
            return None
        try:
            parsed = _ParsedRun(
                spec=RunSpec.model_validate(record.spec),
                cases=[TestCase.model_validate(case) for case in record.cases],
                total=record.total,
                workspace=record.workspace,
            )
        except ValueError as exc:
            self.store.set_run_status(run_id, "failed", error=f"the stored run is invalid: {exc}")
            return None
        with self._parsed_lock:
            self._parsed[run_id] = parsed
            while len(self._parsed) > _CACHED_RUNS:
                self._parsed.popitem(last=False)
        return parsed
