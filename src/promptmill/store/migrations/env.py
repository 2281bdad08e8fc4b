"""Alembic environment for promptmill's store, driven from code (no ``alembic.ini``).

``promptmill.store.migrate.upgrade_to_head`` opens a connection, takes the migration
lock on it and hands it over in ``config.attributes["connection"]``; this script only
runs the migrations on that connection, inside the caller's transaction. Offline (SQL
script) mode is not supported: the store always migrates a live database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from promptmill.store.migrate import include_name
from promptmill.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "promptmill migrations run through promptmill.store (Store.open); "
        "pass a live connection in config.attributes['connection']"
    )


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_name=include_name,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
