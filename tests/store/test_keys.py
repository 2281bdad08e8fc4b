"""API keys: creation, authentication, revocation, and what is kept at rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from promptmill.errors import InvalidRequestError, NotFoundError
from promptmill.store import Store, hash_secret


def test_created_secret_has_the_sk_pm_prefix_and_256_random_bits(store: Store) -> None:
    _, secret = store.create_key()
    assert secret.startswith("sk-pm-")
    assert len(secret) == len("sk-pm-") + 43  # token_urlsafe(32): 32 bytes in base64url


def test_created_key_reports_workspace_name_and_display_prefix(store: Store) -> None:
    info, secret = store.create_key(workspace="team-a", name="ci")
    assert info.id.startswith("key_")
    assert (info.workspace, info.name) == ("team-a", "ci")
    assert secret.startswith(info.prefix)
    assert len(info.prefix) < 16
    assert info.revoked_at is None and not info.revoked
    assert info.created_at.tzinfo is not None


def test_every_key_gets_a_distinct_secret_and_id(store: Store) -> None:
    created = [store.create_key() for _ in range(5)]
    assert len({info.id for info, _ in created}) == 5
    assert len({secret for _, secret in created}) == 5


def test_secret_authenticates_as_its_key(store: Store) -> None:
    info, secret = store.create_key(workspace="team-a")
    assert store.authenticate(secret) == info


def test_unknown_secret_does_not_authenticate(store: Store) -> None:
    store.create_key()
    assert store.authenticate("sk-pm-" + "x" * 43) is None
    assert store.authenticate("") is None


def test_secret_differing_by_one_character_does_not_authenticate(store: Store) -> None:
    _, secret = store.create_key()
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert store.authenticate(tampered) is None


def test_revoked_key_is_rejected_on_the_very_next_authentication(store: Store) -> None:
    info, secret = store.create_key()
    assert store.authenticate(secret) is not None
    store.revoke_key(info.id)
    assert store.authenticate(secret) is None


def test_revocation_through_another_store_is_seen_at_once(database_url: str) -> None:
    with Store.open(database_url) as server, Store.open(database_url) as cli:
        info, secret = server.create_key()
        assert server.authenticate(secret) is not None
        cli.revoke_key(info.id)
        assert server.authenticate(secret) is None


def test_revoking_one_key_leaves_the_others_working(store: Store) -> None:
    first, first_secret = store.create_key()
    _, second_secret = store.create_key()
    store.revoke_key(first.id)
    assert store.authenticate(first_secret) is None
    assert store.authenticate(second_secret) is not None


def test_revoke_returns_the_key_with_its_revocation_time(store: Store) -> None:
    info, _ = store.create_key()
    revoked = store.revoke_key(info.id)
    assert revoked.id == info.id
    assert revoked.revoked_at is not None and revoked.revoked_at >= info.created_at


def test_revoking_twice_keeps_the_first_revocation_time(store: Store) -> None:
    info, _ = store.create_key()
    first = store.revoke_key(info.id)
    assert store.revoke_key(info.id).revoked_at == first.revoked_at


def test_revoking_an_unknown_key_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="key_missing"):
        store.revoke_key("key_missing")


def test_list_keys_shows_all_keys_oldest_first_including_revoked(store: Store) -> None:
    first, _ = store.create_key(workspace="a", name="one")
    second, _ = store.create_key(workspace="b", name="two")
    store.revoke_key(first.id)
    listed = store.list_keys()
    assert [k.id for k in listed] == [first.id, second.id]
    assert listed[0].revoked and not listed[1].revoked


def test_list_keys_can_be_limited_to_one_workspace(store: Store) -> None:
    store.create_key(workspace="a")
    b, _ = store.create_key(workspace="b")
    assert [k.id for k in store.list_keys(workspace="b")] == [b.id]


def test_keys_of_the_same_workspace_share_one_workspace_row(store: Store) -> None:
    store.create_key(workspace="shared")
    store.create_key(workspace="shared")
    with store.engine.connect() as connection:
        table = MetaData()
        table.reflect(connection, only=["workspaces"])
        names = connection.execute(select(table.tables["workspaces"].c.name)).scalars().all()
    assert names == ["shared"]


def test_empty_workspace_name_is_refused(store: Store) -> None:
    with pytest.raises(InvalidRequestError, match="workspace"):
        store.create_key(workspace="  ")


def test_database_rows_hold_only_the_hash_of_a_secret(store: Store) -> None:
    _, secret = store.create_key(name="scan-me")
    metadata = MetaData()
    with store.engine.connect() as connection:
        metadata.reflect(connection)
        cells = [
            str(cell)
            for table in metadata.sorted_tables
            for row in connection.execute(select(table))
            for cell in row
        ]
    assert cells, "the scan read no rows at all"
    assert not any(secret in cell for cell in cells)
    assert not any(secret[len("sk-pm-") :] in cell for cell in cells)
    assert hash_secret(secret) in cells


def test_sqlite_files_never_contain_a_secret(tmp_path: Path) -> None:
    def raw_files() -> bytes:
        return b"".join(path.read_bytes() for path in tmp_path.glob("keys.db*"))

    with Store.open(f"sqlite:///{tmp_path / 'keys.db'}") as store:
        secrets = [store.create_key()[1] for _ in range(3)]
        raw = raw_files()  # the main file and the write-ahead log while in use
    raw += raw_files()  # and after the log was checkpointed on close
    assert hash_secret(secrets[0]).encode() in raw
    for secret in secrets:
        assert secret.encode() not in raw
        assert secret[len("sk-pm-") :].encode() not in raw
