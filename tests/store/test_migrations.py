"""Schema migrations: from an empty database to head, idempotent, and matching the models."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from promptmill.store import CallRecord, EvalResultRecord, Store
from promptmill.store.migrate import alembic_config, current_revision, head_revision
from promptmill.store.models import Base
from promptmill.store.store import _create_engine


def _insert_call_as_0001_did(engine: Engine, workspace: str, call_id: str) -> None:
    """A call row with only the columns revision 0001 made (the store writes newer ones)."""
    with engine.begin() as connection:
        workspace_id = connection.execute(
            text("SELECT id FROM workspaces WHERE name = :name"), {"name": workspace}
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO calls (id, workspace_id, endpoint, backend, model, input_tokens,"
                " output_tokens, usage, latency_ms, status, request, created_at) VALUES"
                " (:id, :ws, 'generate_prompt', 'local', 'm', 3, 4,"
                " '[{\"input_tokens\": 3, \"output_tokens\": 4}]', 1.0, 200, '{}', :at)"
            ),
            {"id": call_id, "ws": workspace_id, "at": datetime(2026, 1, 1)},
        )


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    """Move a database to ``revision`` (the store itself only ever goes to head)."""
    engine = _create_engine(make_url(url))
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def test_open_creates_the_missing_sqlite_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "promptmill.db"
    with Store.open(f"sqlite:///{path}"):
        pass
    assert path.is_file()


def test_migrations_create_every_table_from_an_empty_database(database_url: str) -> None:
    with Store.open(database_url) as store:
        inspector = inspect(store.engine)
        model_tables = {
            "workspaces",
            "api_keys",
            "calls",
            "prompts",
            "prompt_versions",
            "datasets",
            "eval_runs",
            "eval_results",
            "rate_limit_buckets",
            "rate_limit_hits",
        }
        assert set(inspector.get_table_names()) == model_tables | {"alembic_version"}
        assert set(Base.metadata.tables) == model_tables
        assert {"ix_calls_workspace_id_created_at"} <= {
            index["name"] for index in inspector.get_indexes("calls")
        }
        assert current_revision(store.engine) == head_revision()


def test_migrated_schema_matches_the_orm_models(database_url: str) -> None:
    with Store.open(database_url) as store, store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_opening_again_keeps_the_data_and_the_revision(database_url: str) -> None:
    with Store.open(database_url) as store:
        info, secret = store.create_key(workspace="kept")
    with Store.open(database_url) as store:
        assert store.authenticate(secret) == info
        assert current_revision(store.engine) == head_revision()
        assert [k.id for k in store.list_keys()] == [info.id]


def test_sqlite_store_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'p.db'}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) > 0


def test_in_memory_sqlite_store_works_across_threads() -> None:
    import threading

    with Store.open("sqlite://") as store:
        info, secret = store.create_key()
        seen: list[object] = []
        worker = threading.Thread(target=lambda: seen.append(store.authenticate(secret)))
        worker.start()
        worker.join()
    assert seen == [info]


def test_plain_postgresql_url_uses_psycopg_3() -> None:
    from promptmill.store.store import _create_engine

    engine = _create_engine(make_url("postgresql://u@127.0.0.1:1/db"))
    assert engine.dialect.driver == "psycopg"


def test_processes_migrating_a_new_database_at_once_all_succeed(database_url: str) -> None:
    url = database_url
    script = (
        "import sys\n"
        "from promptmill.store import Store\n"
        "with Store.open(sys.argv[1]) as store:\n"
        "    print(store.create_key(workspace='race')[0].id)\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], results
    created = {out.strip() for out, _ in results}
    with Store.open(url) as store:
        assert {k.id for k in store.list_keys()} == created
        assert len(created) == 3
        assert current_revision(store.engine) == head_revision()


def test_upgrade_from_0001_keeps_keys_and_calls_and_adds_evaluation(database_url: str) -> None:
    _migrate(database_url, "0001")
    old_schema = Store(_create_engine(make_url(database_url)))
    try:
        info, secret = old_schema.create_key(workspace="before")
        _insert_call_as_0001_did(old_schema.engine, "before", "call_old")
        assert current_revision(old_schema.engine) == "0001"
    finally:
        old_schema.close()

    with Store.open(database_url) as store:
        assert current_revision(store.engine) == head_revision() == "0004"
        assert store.authenticate(secret) == info
        stored = store.get_call("before", "call_old")
        assert stored is not None and stored.input_tokens == 3
        run = store.create_run("before", spec={}, cases=[{"vars": {}}], total=1)
        result = EvalResultRecord(
            case_index=0,
            variant_index=0,
            input={},
            output="ok",
            input_tokens=1,
            output_tokens=1,
            latency_ms=1.0,
            grades=[],
            passed=None,
            score=None,
        )
        assert store.record_result(run.id, result)
        version, _ = store.save_prompt_version(
            "before", "p", messages=[], system="", variables=[], content_hash="h"
        )
        assert version.number == 1


def test_downgrade_to_0001_drops_only_the_evaluation_tables(database_url: str) -> None:
    with Store.open(database_url) as store:
        info, secret = store.create_key(workspace="kept")
        store.save_dataset("kept", "d", [])
    _migrate(database_url, "0001", down=True)
    engine = _create_engine(make_url(database_url))
    try:
        tables = set(inspect(engine).get_table_names())
        assert "eval_runs" not in tables and "datasets" not in tables
        assert Store(engine).authenticate(secret) == info
    finally:
        engine.dispose()


def test_the_queue_tables_in_a_postgresql_store_are_not_the_migrations_concern(
    tmp_path: Path, postgres_url: str
) -> None:
    from promptmill.config import Settings
    from promptmill.jobs import make_huey
    from promptmill.store.migrate import include_name

    with Store.open(postgres_url) as store:
        make_huey(Settings(home=tmp_path), store).storage.close()
        with store.engine.connect() as connection:
            assert "huey_task" in inspect(connection).get_table_names()
            unfiltered = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            filtered = compare_metadata(
                MigrationContext.configure(connection, opts={"include_name": include_name}),
                Base.metadata,
            )
    assert any(diff[0] == "remove_table" for diff in unfiltered)
    assert filtered == []


def test_upgrade_from_0002_adds_the_rate_limit_and_keeps_the_keys(database_url: str) -> None:
    _migrate(database_url, "0002")
    old_schema = Store(_create_engine(make_url(database_url)))
    try:
        info, secret = old_schema.create_key(workspace="before")
    finally:
        old_schema.close()

    with Store.open(database_url) as store:
        assert current_revision(store.engine) == head_revision()
        assert store.authenticate(secret) == info
        assert store.acquire_rate_slot(f"key:{info.id}", 1, 60.0, 1000.0) is None


def test_upgrade_from_0003_adds_input_reuse_columns_left_unknown_for_older_calls(
    database_url: str,
) -> None:
    _migrate(database_url, "0003")
    old_schema = Store(_create_engine(make_url(database_url)))
    try:
        old_schema.create_key(workspace="before")
        _insert_call_as_0001_did(old_schema.engine, "before", "call_old")
    finally:
        old_schema.close()

    with Store.open(database_url) as store:
        assert current_revision(store.engine) == "0004"
        old = store.get_call("before", "call_old")
        assert old is not None
        assert (old.reused_input_tokens, old.evaluated_input_tokens, old.model_seconds) == (
            None,
            None,
            None,
        )
        new_id = store.record_call(
            CallRecord(
                key_id=None,
                workspace="before",
                endpoint="generate_prompt",
                usage=[{"input_tokens": 9, "output_tokens": 1, "reused_input_tokens": 7}],
            )
        )
        new = store.get_call("before", new_id)
        assert new is not None and new.reused_input_tokens == 7


def test_downgrade_to_0003_drops_the_input_reuse_columns_and_keeps_the_calls(
    database_url: str,
) -> None:
    with Store.open(database_url) as store:
        call_id = store.record_call(
            CallRecord(key_id=None, workspace="kept", endpoint="generate_prompt")
        )
    _migrate(database_url, "0003", down=True)
    engine = _create_engine(make_url(database_url))
    try:
        columns = {column["name"] for column in inspect(engine).get_columns("calls")}
        assert "reused_input_tokens" not in columns and "model_seconds" not in columns
        with engine.connect() as connection:
            ids = connection.execute(text("SELECT id FROM calls")).scalars().all()
        assert ids == [call_id]
    finally:
        engine.dispose()


def test_processes_starting_together_create_the_postgresql_queue_tables_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """``serve --workers N`` starts N processes at once; none may fail creating huey's tables."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from promptmill.config import Settings
    from promptmill.jobs import make_huey

    starters = 8
    together = Barrier(starters)

    def start(_: int) -> None:
        with Store.open(postgres_url) as store:
            together.wait()
            make_huey(Settings(home=tmp_path), store).storage.close()

    with ThreadPoolExecutor(starters) as pool:
        list(pool.map(start, range(starters)))  # re-raises any starter's error
    with Store.open(postgres_url) as store, store.engine.connect() as connection:
        assert "huey_task" in inspect(connection).get_table_names()
