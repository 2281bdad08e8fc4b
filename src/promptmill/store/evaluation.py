"""Prompts and their versions, datasets, evaluation runs and their results.

``EvaluationRecords`` holds the store's evaluation methods; ``Store`` inherits them, so
callers see one object. Like the rest of the store it takes and returns the plain
values of ``records`` and never interprets a prompt or a case: content hashes,
variables and results are computed by the engine and only kept here.

Two guarantees matter to the task queue and are kept in SQL, not by callers:

- ``record_result`` is insert-or-ignore on (run, case, variant), on SQLite and
  PostgreSQL alike, so a chunk of work that runs twice (after a crash, or on two
  servers) stores each result once, and the first write wins.
- A run's final status (``completed``, ``cancelled``, ``failed``) never changes: status
  updates are conditional ``UPDATE``s, so a chunk finishing after a cancel cannot
  turn the run back into ``completed``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promptmill.errors import InvalidRequestError, NotFoundError
from promptmill.store.models import (
    Dataset,
    EvalResult,
    EvalRun,
    Prompt,
    PromptVersion,
    Workspace,
    utcnow,
)
from promptmill.store.records import (
    ACTIVE_RUN_STATUSES,
    RUN_STATUSES,
    DatasetRecord,
    EvalResultRecord,
    EvalRunRecord,
    PromptSummary,
    PromptVersionRecord,
    RunCounts,
)
from promptmill.store.workspaces import check_workspace_name, get_or_create_workspace, new_id

_NAME = re.compile(r"^[\w.-]{1,200}$")
"""Prompt and dataset names: letters, digits, ``_``, ``.``, ``-``; they appear in URL paths."""

MAX_LISTED_RUNS = 1000


def check_name(name: str, field: str = "name") -> str:
    """A prompt or dataset name, or a 400 naming ``field``."""
    if not _NAME.match(name):
        raise InvalidRequestError(
            f"{field}: expected 1 to 200 letters, digits, '_', '.' or '-', got {name!r}"
        )
    return name


class EvaluationRecords:
    """The evaluation half of ``Store``; see the module docstring for its guarantees."""

    if TYPE_CHECKING:

        def _reading(self) -> AbstractContextManager[Session]: ...
        def _writing(self) -> AbstractContextManager[Session]: ...

    # --- prompts ------------------------------------------------------------

    def save_prompt_version(
        self,
        workspace: str,
        name: str,
        *,
        messages: Sequence[dict[str, Any]],
        system: str,
        variables: Sequence[str],
        content_hash: str,
    ) -> tuple[PromptVersionRecord, bool]:
        """Save content under ``name``; return the version and whether it is new.

        Content whose hash equals the latest version's returns that version unchanged
        (saving twice is harmless); anything else becomes the next version number, even
        content equal to an older version (going back is a change worth numbering).
        Concurrent saves of one prompt are numbered one after the other.
        """
        workspace = check_workspace_name(workspace)
        check_name(name)
        with self._writing() as session:
            ws = get_or_create_workspace(session, workspace)
            prompt = _get_or_create_prompt(session, ws.id, name)
            # Lock the prompt (PostgreSQL; SQLite's write lock is already held) so two
            # saves never read the same latest number.
            session.execute(select(Prompt.id).where(Prompt.id == prompt.id).with_for_update())
            latest = session.scalars(
                select(PromptVersion)
                .where(PromptVersion.prompt_id == prompt.id)
                .order_by(PromptVersion.number.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.content_hash == content_hash:
                return _version_record(latest, ws.name, name), False
            version = PromptVersion(
                id=new_id("pv"),
                prompt_id=prompt.id,
                number=latest.number + 1 if latest is not None else 1,
                content_hash=content_hash,
                body={"messages": [dict(m) for m in messages], "system": system},
                variables=list(variables),
                created_at=utcnow(),
            )
            session.add(version)
            session.flush()
            return _version_record(version, ws.name, name), True

    def list_prompts(self, workspace: str) -> list[PromptSummary]:
        """The workspace's prompts, by name, each with its latest version number."""
        query = (
            select(
                Prompt.name,
                func.max(PromptVersion.number),
                func.count(PromptVersion.id),
                func.max(PromptVersion.created_at),
            )
            .join(Workspace, Prompt.workspace_id == Workspace.id)
            .join(PromptVersion, PromptVersion.prompt_id == Prompt.id)
            .where(Workspace.name == workspace)
            .group_by(Prompt.id, Prompt.name)
            .order_by(Prompt.name)
        )
        with self._reading() as session:
            rows = session.execute(query).all()
        return [
            PromptSummary(
                name=name,
                latest_version=latest,
                versions=count,
                updated_at=updated_at,
            )
            for name, latest, count, updated_at in rows
        ]

    def prompt_versions(self, workspace: str, name: str) -> list[PromptVersionRecord]:
        """Every version of a prompt, oldest first; ``NotFoundError`` for an unknown name."""
        with self._reading() as session:
            prompt = _find_prompt(session, workspace, name)
            versions = session.scalars(
                select(PromptVersion)
                .where(PromptVersion.prompt_id == prompt.id)
                .order_by(PromptVersion.number)
            ).all()
            return [_version_record(v, workspace, name) for v in versions]

    def prompt_version(
        self, workspace: str, name: str, number: int | None = None
    ) -> PromptVersionRecord:
        """One version of a prompt (the latest when ``number`` is ``None``).

        Raises ``NotFoundError`` naming the prompt or the version.
        """
        with self._reading() as session:
            prompt = _find_prompt(session, workspace, name)
            query = select(PromptVersion).where(PromptVersion.prompt_id == prompt.id)
            if number is None:
                query = query.order_by(PromptVersion.number.desc()).limit(1)
            else:
                query = query.where(PromptVersion.number == number)
            version = session.scalars(query).first()
            if version is None:
                raise NotFoundError(f"prompt {name!r} has no version {number}")
            return _version_record(version, workspace, name)

    # --- datasets -----------------------------------------------------------

    def save_dataset(
        self, workspace: str, name: str, cases: Sequence[dict[str, Any]]
    ) -> DatasetRecord:
        """Create the dataset ``name`` or replace its cases (an upsert, safe under races)."""
        workspace = check_workspace_name(workspace)
        check_name(name)
        now = utcnow()
        with self._writing() as session:
            ws = get_or_create_workspace(session, workspace)
            insert = _insert(session, Dataset).values(
                id=new_id("ds"),
                workspace_id=ws.id,
                name=name,
                cases=[dict(case) for case in cases],
                created_at=now,
                updated_at=now,
            )
            session.execute(
                insert.on_conflict_do_update(
                    index_elements=[Dataset.workspace_id, Dataset.name],
                    set_={"cases": insert.excluded.cases, "updated_at": insert.excluded.updated_at},
                )
            )
            row = session.scalars(
                select(Dataset).where(Dataset.workspace_id == ws.id, Dataset.name == name)
            ).one()
            return _dataset_record(row, ws.name)

    def list_datasets(self, workspace: str) -> list[DatasetRecord]:
        """The workspace's datasets, by name."""
        query = (
            select(Dataset)
            .join(Workspace, Dataset.workspace_id == Workspace.id)
            .where(Workspace.name == workspace)
            .order_by(Dataset.name)
        )
        with self._reading() as session:
            return [_dataset_record(row, workspace) for row in session.scalars(query)]

    def dataset(self, workspace: str, name: str) -> DatasetRecord:
        """One dataset; ``NotFoundError`` naming it when the workspace has none by that name."""
        query = (
            select(Dataset)
            .join(Workspace, Dataset.workspace_id == Workspace.id)
            .where(Workspace.name == workspace, Dataset.name == name)
        )
        with self._reading() as session:
            row = session.scalars(query).first()
            if row is None:
                raise NotFoundError(f"no dataset {name!r} in this workspace")
            return _dataset_record(row, workspace)

    # --- runs ---------------------------------------------------------------

    def create_run(
        self,
        workspace: str,
        *,
        spec: dict[str, Any],
        cases: Sequence[dict[str, Any]],
        total: int,
        max_active: int | None = None,
    ) -> EvalRunRecord:
        """A new ``queued`` run.

        With ``max_active``, the run is refused (400) when the workspace already has that
        many queued or running runs; the count and the insert are one transaction with
        the workspace row locked, so concurrent requests cannot both slip under the limit.
        """
        workspace = check_workspace_name(workspace)
        with self._writing() as session:
            ws = get_or_create_workspace(session, workspace)
            if max_active is not None:
                session.execute(select(Workspace.id).where(Workspace.id == ws.id).with_for_update())
                active = _count_active(session, ws.id)
                if active >= max_active:
                    raise InvalidRequestError(
                        f"runs: this workspace already has {active} queued or running "
                        f"evaluation runs, the most allowed at once ({max_active}); wait for "
                        "one to finish or cancel one"
                    )
            run = EvalRun(
                id=new_id("run"),
                workspace_id=ws.id,
                status="queued",
                spec=dict(spec),
                cases=[dict(case) for case in cases],
                total=total,
                created_at=utcnow(),
                started_at=None,
                finished_at=None,
                error=None,
            )
            session.add(run)
            session.flush()
            return _run_record(run, ws.name, RunCounts(done=0, errors=0))

    def get_run(self, run_id: str, *, workspace: str | None = None) -> EvalRunRecord | None:
        """A run with its counts, or ``None``; with ``workspace``, only a run of that workspace.

        The HTTP layer always passes the caller's workspace; workers, which act for
        the run itself, do not.
        """
        query = (
            select(EvalRun, Workspace.name)
            .join(Workspace, EvalRun.workspace_id == Workspace.id)
            .where(EvalRun.id == run_id)
        )
        if workspace is not None:
            query = query.where(Workspace.name == workspace)
        with self._reading() as session:
            row = session.execute(query).first()
            if row is None:
                return None
            run, ws_name = row
            return _run_record(run, ws_name, _counts(session, [run.id])[run.id])

    def run_status(self, run_id: str) -> str | None:
        """Just a run's status (``None`` for an unknown run): what workers poll between cases."""
        with self._reading() as session:
            return session.scalar(select(EvalRun.status).where(EvalRun.id == run_id))

    def list_runs(self, workspace: str, limit: int = 50) -> list[EvalRunRecord]:
        """The workspace's runs, newest first, with their counts."""
        if not 1 <= limit <= MAX_LISTED_RUNS:
            raise InvalidRequestError(f"limit: expected 1 to {MAX_LISTED_RUNS}, got {limit}")
        query = (
            select(EvalRun)
            .join(Workspace, EvalRun.workspace_id == Workspace.id)
            .where(Workspace.name == workspace)
            .order_by(EvalRun.created_at.desc(), EvalRun.id)
            .limit(limit)
        )
        with self._reading() as session:
            runs = session.scalars(query).all()
            counts = _counts(session, [run.id for run in runs])
            return [_run_record(run, workspace, counts[run.id]) for run in runs]

    def unfinished_runs(self) -> list[EvalRunRecord]:
        """Every queued or running run of every workspace, oldest first (to resume them)."""
        query = (
            select(EvalRun, Workspace.name)
            .join(Workspace, EvalRun.workspace_id == Workspace.id)
            .where(EvalRun.status.in_(ACTIVE_RUN_STATUSES))
            .order_by(EvalRun.created_at, EvalRun.id)
        )
        with self._reading() as session:
            rows = session.execute(query).all()
            counts = _counts(session, [run.id for run, _ in rows])
            return [_run_record(run, name, counts[run.id]) for run, name in rows]

    def active_runs(self, workspace: str) -> int:
        """How many queued or running runs the workspace has."""
        with self._reading() as session:
            ws_id = session.scalars(select(Workspace.id).where(Workspace.name == workspace)).first()
            return 0 if ws_id is None else _count_active(session, ws_id)

    def set_run_status(
        self, run_id: str, status: str, *, error: str | None = None
    ) -> EvalRunRecord | None:
        """Move a run on; a final status is never left. Returns the run as it now is.

        ``running`` applies to a queued run (and stamps ``started_at``); ``completed``,
        ``cancelled`` and ``failed`` apply to a queued or running run (and stamp
        ``finished_at``; ``error`` says why a run failed). Any other move is ignored, so
        the answer's ``status`` tells the caller whether its update won.
        """
        if status not in RUN_STATUSES or status == "queued":
            raise ValueError(f"status: expected one of {RUN_STATUSES[1:]}, got {status!r}")
        now = utcnow()
        statement = update(EvalRun).where(EvalRun.id == run_id)
        if status == "running":
            statement = statement.where(EvalRun.status == "queued").values(
                status=status, started_at=now
            )
        else:
            statement = statement.where(EvalRun.status.in_(ACTIVE_RUN_STATUSES)).values(
                status=status,
                started_at=func.coalesce(EvalRun.started_at, now),
                finished_at=now,
                error=error,
            )
        with self._writing() as session:
            session.execute(statement.execution_options(synchronize_session=False))
        return self.get_run(run_id)

    def cancel_run(self, workspace: str, run_id: str) -> EvalRunRecord:
        """Cancel a queued or running run of the workspace; a finished run is left as is.

        Workers check the status between cases, so no new case starts once this returns;
        results already written stay. Raises ``NotFoundError`` for an unknown run.
        """
        if self.get_run(run_id, workspace=workspace) is None:
            raise NotFoundError(f"no evaluation run {run_id!r} in this workspace")
        run = self.set_run_status(run_id, "cancelled")
        assert run is not None  # runs are never deleted
        return run

    # --- results ------------------------------------------------------------

    def record_result(self, run_id: str, result: EvalResultRecord) -> bool:
        """Store one result; ``False`` (and nothing changed) if it was already stored."""
        with self._writing() as session:
            insert = _insert(session, EvalResult).values(
                run_id=run_id,
                case_index=result.case_index,
                variant_index=result.variant_index,
                input=result.input,
                output=result.output,
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                latency_ms=result.latency_ms,
                grades=result.grades,
                passed=result.passed,
                score=result.score,
                error_type=result.error_type,
                error_message=result.error_message,
                created_at=utcnow(),
            )
            inserted = session.execute(
                insert.on_conflict_do_nothing(
                    index_elements=[
                        EvalResult.run_id,
                        EvalResult.case_index,
                        EvalResult.variant_index,
                    ]
                ).returning(EvalResult.run_id)
            ).first()
            return inserted is not None

    def results(
        self, run_id: str, offset: int = 0, limit: int | None = None
    ) -> list[EvalResultRecord]:
        """A run's results ordered by case, then variant; all of them when ``limit`` is None."""
        if offset < 0:
            raise InvalidRequestError(f"offset: expected 0 or more, got {offset}")
        if limit is not None and limit < 1:
            raise InvalidRequestError(f"limit: expected 1 or more, got {limit}")
        query = (
            select(EvalResult)
            .where(EvalResult.run_id == run_id)
            .order_by(EvalResult.case_index, EvalResult.variant_index)
            .offset(offset)
            .limit(limit)
        )
        with self._reading() as session:
            return [_result_record(row) for row in session.scalars(query)]

    def result_keys(self, run_id: str) -> set[tuple[int, int]]:
        """The (case index, variant index) pairs the run already has results for."""
        query = select(EvalResult.case_index, EvalResult.variant_index).where(
            EvalResult.run_id == run_id
        )
        with self._reading() as session:
            return {(case, variant) for case, variant in session.execute(query)}

    def counts(self, run_id: str) -> RunCounts:
        """How many results the run holds and how many are errors (one cheap query)."""
        with self._reading() as session:
            return _counts(session, [run_id])[run_id]


# --- helpers ----------------------------------------------------------------------


def _insert(session: Session, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` with ``ON CONFLICT`` support for the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {dialect}")


def _get_or_create_prompt(session: Session, workspace_id: str, name: str) -> Prompt:
    """The prompt row, created on first save (race-safe, like workspaces)."""
    query = select(Prompt).where(Prompt.workspace_id == workspace_id, Prompt.name == name)
    found = session.scalars(query).first()
    if found is not None:
        return found
    prompt = Prompt(id=new_id("prompt"), workspace_id=workspace_id, name=name, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(prompt)
    except IntegrityError:
        return session.scalars(query).one()
    return prompt


def _find_prompt(session: Session, workspace: str, name: str) -> Prompt:
    prompt = session.scalars(
        select(Prompt)
        .join(Workspace, Prompt.workspace_id == Workspace.id)
        .where(Workspace.name == workspace, Prompt.name == name)
    ).first()
    if prompt is None:
        raise NotFoundError(f"no prompt {name!r} in this workspace")
    return prompt


def _count_active(session: Session, workspace_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(EvalRun)
            .where(
                EvalRun.workspace_id == workspace_id,
                EvalRun.status.in_(ACTIVE_RUN_STATUSES),
            )
        )
        or 0
    )


def _counts(session: Session, run_ids: Sequence[str]) -> dict[str, RunCounts]:
    """Result and error counts of each run (zeros for runs without results)."""
    found: dict[str, RunCounts] = {run_id: RunCounts(done=0, errors=0) for run_id in run_ids}
    if not run_ids:
        return found
    query = (
        select(EvalResult.run_id, func.count(), func.count(EvalResult.error_type))
        .where(EvalResult.run_id.in_(run_ids))
        .group_by(EvalResult.run_id)
    )
    for run_id, done, errors in session.execute(query):
        found[run_id] = RunCounts(done=int(done), errors=int(errors))
    return found


def _version_record(version: PromptVersion, workspace: str, name: str) -> PromptVersionRecord:
    return PromptVersionRecord(
        id=version.id,
        workspace=workspace,
        name=name,
        number=version.number,
        content_hash=version.content_hash,
        messages=list(version.body.get("messages", [])),
        system=str(version.body.get("system", "")),
        variables=list(version.variables),
        created_at=version.created_at,
    )


def _dataset_record(row: Dataset, workspace: str) -> DatasetRecord:
    return DatasetRecord(
        workspace=workspace,
        name=row.name,
        cases=list(row.cases),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _run_record(run: EvalRun, workspace: str, counts: RunCounts) -> EvalRunRecord:
    return EvalRunRecord(
        id=run.id,
        workspace=workspace,
        status=run.status,
        spec=dict(run.spec),
        cases=list(run.cases),
        total=run.total,
        done=counts.done,
        errors=counts.errors,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
    )


def _result_record(row: EvalResult) -> EvalResultRecord:
    return EvalResultRecord(
        case_index=row.case_index,
        variant_index=row.variant_index,
        input=dict(row.input),
        output=row.output,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        latency_ms=row.latency_ms,
        grades=list(row.grades),
        passed=row.passed,
        score=row.score,
        error_type=row.error_type,
        error_message=row.error_message,
    )
