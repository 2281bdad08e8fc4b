"""Bring a database's schema to the newest revision with Alembic, from code.

The migrations ship inside the package (``store/migrations``), so a pip-installed
promptmill needs no ``alembic.ini``. Several processes may start against the same
database at once (two ``promptmill serve`` workers, a CLI command beside a server), so
the whole upgrade runs in one transaction that first takes an exclusive lock: SQLite's
``BEGIN IMMEDIATE`` write lock, or a PostgreSQL transaction-level advisory lock. The
second process then waits, sees the schema already at head, and does nothing.

A new revision goes in ``migrations/versions``; to draft one from the models, call
``alembic.command.revision(config, message, autogenerate=True)`` with an
``alembic_config()`` whose ``attributes["connection"]`` is a database at head.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any fixed 64-bit number works; it only has to be the same in every process.
_PG_MIGRATION_LOCK_ID = 0x70726F6D70746D  # "promptm"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """What migrations manage: everything but the evaluation queue's ``huey_*`` tables,
    which huey (``promptmill.jobs``) creates and owns in a PostgreSQL store, so that
    autogenerate never proposes to drop them."""
    return not (type_ == "table" and name is not None and name.startswith("huey_"))


def alembic_config() -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    """The newest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Run every pending migration, serialized against other processes."""
    locked = engine.execution_options(sqlite_begin="IMMEDIATE")
    with locked.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK_ID})")
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
