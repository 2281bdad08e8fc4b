"""Schema migrations: from an empty database to head, idempotent, and matching the models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from promptmill.store import Store
from promptmill.store.migrate import current_revision, head_revision
from promptmill.store.models import Base


def test_open_creates_the_missing_sqlite_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "promptmill.db"
    with Store.open(f"sqlite:///{path}"):
        pass
    assert path.is_file()


def test_migrations_create_every_table_from_an_empty_database(database_url: str) -> None:
    with Store.open(database_url) as store:
        inspector = inspect(store.engine)
        assert set(inspector.get_table_names()) == {
            "workspaces",
            "api_keys",
            "calls",
            "alembic_version",
        }
        assert set(Base.metadata.tables) == {"workspaces", "api_keys", "calls"}
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
    from sqlalchemy.engine import make_url

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
