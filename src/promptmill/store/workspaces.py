"""Ids and workspaces, shared by every part of the store that writes rows.

Workspaces are created on first use (the first key, call, prompt or run that names one),
so every writer needs the same race-safe get-or-create.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promptmill.errors import InvalidRequestError
from promptmill.store.models import Workspace, utcnow


def new_id(prefix: str) -> str:
    """A random id such as ``key_3f9c...``: hex only, so it copies with one double-click."""
    return f"{prefix}_{secrets.token_hex(12)}"


def check_workspace_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidRequestError(f"workspace: expected 1 to 200 characters, got {name!r}")
    return name


def get_or_create_workspace(session: Session, name: str) -> Workspace:
    """The workspace called ``name``, created on first use.

    Two transactions may create the same new workspace at once (on PostgreSQL, where
    writers do not serialize): the insert runs in a savepoint and, if it loses the race
    on the unique name, the winner's row is read instead.
    """
    found = session.scalars(select(Workspace).where(Workspace.name == name)).first()
    if found is not None:
        return found
    workspace = Workspace(id=new_id("wrkspc"), name=name, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(workspace)
    except IntegrityError:
        return session.scalars(select(Workspace).where(Workspace.name == name)).one()
    return workspace
