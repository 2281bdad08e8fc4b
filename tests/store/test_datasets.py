"""Datasets: named lists of cases, replaced as a whole on every save."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from promptmill.errors import NotFoundError
from promptmill.store import Store

CASES = [
    {"vars": {"FOOD": "eggs"}, "expected": "omelette", "notes": None},
    {"vars": {"FOOD": "rice"}, "expected": None, "notes": "should mention water ratio"},
]


def test_saved_dataset_reads_back_with_its_cases(store: Store) -> None:
    saved = store.save_dataset("w", "dishes", CASES)
    assert (saved.name, saved.workspace, saved.cases) == ("dishes", "w", CASES)
    assert store.dataset("w", "dishes") == saved


def test_saving_again_replaces_the_cases_and_keeps_the_creation_time(store: Store) -> None:
    first = store.save_dataset("w", "dishes", CASES)
    second = store.save_dataset("w", "dishes", CASES[:1])
    assert second.cases == CASES[:1]
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert [d.name for d in store.list_datasets("w")] == ["dishes"]


def test_datasets_are_listed_by_name_and_private_to_their_workspace(store: Store) -> None:
    store.save_dataset("w", "b", CASES)
    store.save_dataset("w", "a", CASES)
    store.save_dataset("other", "c", CASES)
    assert [d.name for d in store.list_datasets("w")] == ["a", "b"]
    with pytest.raises(NotFoundError, match="no dataset 'c'"):
        store.dataset("w", "c")


def test_concurrent_first_saves_of_one_dataset_leave_one_row(store: Store) -> None:
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: store.save_dataset("w", "race", CASES[: n % 2 + 1]), range(12)))
    [only] = store.list_datasets("w")
    assert only.name == "race"
