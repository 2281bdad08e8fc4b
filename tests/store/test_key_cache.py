"""The process's cache of recently verified keys: what it answers, and when it forgets.

``Store.recently_verified`` answers from memory what ``authenticate`` found in the
database; revoking through any ``Store`` of the process must make it forget at once,
while a revocation it cannot see (another process's, here a plain SQL update) is
seen once the entry is older than the allowed age.
"""

from __future__ import annotations

from sqlalchemy import update

from promptmill.store import Store
from promptmill.store.key_cache import MAX_ENTRIES, RecentKeys
from promptmill.store.models import ApiKey, utcnow
from promptmill.store.records import ApiKeyInfo


def _revoke_behind_the_process_back(store: Store, key_id: str) -> None:
    """What ``promptmill keys revoke`` in another process does to the database."""
    with store.engine.begin() as connection:
        connection.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))


def test_a_key_is_not_known_before_it_has_been_verified(store: Store) -> None:
    _, secret = store.create_key()
    assert store.recently_verified(secret, max_age=60) is None


def test_a_verified_key_is_answered_without_reading_the_database(store: Store) -> None:
    info, secret = store.create_key()
    assert store.authenticate(secret) == info
    _revoke_behind_the_process_back(store, info.id)

    assert store.recently_verified(secret, max_age=60) == info  # memory, not the row
    assert store.authenticate(secret) is None  # the row


def test_revoking_through_the_same_store_forgets_the_key_at_once(store: Store) -> None:
    info, secret = store.create_key()
    store.authenticate(secret)
    store.revoke_key(info.id)
    assert store.recently_verified(secret, max_age=60) is None


def test_revoking_through_another_store_of_the_process_forgets_the_key_at_once(
    database_url: str,
) -> None:
    with Store.open(database_url) as server_side, Store.open(database_url) as admin_side:
        info, secret = admin_side.create_key()
        assert server_side.authenticate(secret) == info
        admin_side.revoke_key(info.id)
        assert server_side.recently_verified(secret, max_age=60) is None
        assert server_side.authenticate(secret) is None


def test_unknown_and_revoked_secrets_are_never_remembered(store: Store) -> None:
    info, secret = store.create_key()
    store.revoke_key(info.id)
    store.authenticate(secret)
    store.authenticate("sk-pm-" + "x" * 43)
    assert store.recently_verified(secret, max_age=60) is None
    assert store.recently_verified("sk-pm-" + "x" * 43, max_age=60) is None


def test_a_key_of_one_in_memory_database_is_unknown_to_another() -> None:
    with Store.open("sqlite://") as first, Store.open("sqlite://") as second:
        _, secret = first.create_key()
        first.authenticate(secret)
        assert second.recently_verified(secret, max_age=60) is None


# --- RecentKeys on its own clock ------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


_CREATED = utcnow()


def _info(key_id: str = "key_1") -> ApiKeyInfo:
    return ApiKeyInfo(
        id=key_id,
        workspace="w",
        name=None,
        prefix="sk-pm-abc",
        created_at=_CREATED,
        revoked_at=None,
    )


def test_an_entry_older_than_the_allowed_age_is_not_answered() -> None:
    clock = _Clock()
    keys = RecentKeys(clock)
    keys.put("db", "digest", _info(), keys.revocations)
    clock.now += 5.0
    assert keys.get("db", "digest", max_age=5.0) == _info()
    clock.now += 0.01
    assert keys.get("db", "digest", max_age=5.0) is None


def test_an_allowed_age_of_zero_never_answers_from_memory() -> None:
    keys = RecentKeys(_Clock())
    keys.put("db", "digest", _info(), keys.revocations)
    assert keys.get("db", "digest", max_age=0) is None


def test_a_check_that_read_the_database_before_a_revocation_is_not_remembered() -> None:
    keys = RecentKeys(_Clock())
    seen = keys.revocations  # the check starts reading the database
    keys.forget("key_1")  # meanwhile, the key is revoked and committed
    keys.put("db", "digest", _info("key_1"), seen)  # the check saw it live
    assert keys.get("db", "digest", max_age=60) is None


def test_forgetting_a_key_leaves_the_others() -> None:
    keys = RecentKeys(_Clock())
    keys.put("db", "a", _info("key_a"), keys.revocations)
    keys.put("db", "b", _info("key_b"), keys.revocations)
    keys.forget("key_a")
    assert keys.get("db", "a", max_age=60) is None
    assert keys.get("db", "b", max_age=60) == _info("key_b")


def test_the_cache_holds_at_most_max_entries_dropping_the_oldest() -> None:
    keys = RecentKeys(_Clock())
    for n in range(MAX_ENTRIES + 1):
        keys.put("db", f"digest-{n}", _info(f"key_{n}"), keys.revocations)
    assert keys.get("db", "digest-0", max_age=60) is None
    assert keys.get("db", f"digest-{MAX_ENTRIES}", max_age=60) is not None
