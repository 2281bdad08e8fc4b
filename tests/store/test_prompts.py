"""Named prompts: every changed save is a new numbered version; an unchanged one is not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from promptmill.errors import InvalidRequestError, NotFoundError
from promptmill.store import PromptVersionRecord, Store


def _save(
    store: Store, text: str, *, name: str = "chef", workspace: str = "w", system: str = ""
) -> tuple[PromptVersionRecord, bool]:
    messages = [{"role": "user", "content": text}]
    return store.save_prompt_version(
        workspace,
        name,
        messages=messages,
        system=system,
        variables=["FOOD"] if "{{FOOD}}" in text else [],
        content_hash=f"hash-of-{text}-{system}",
    )


def test_first_save_is_version_one_with_everything_kept(store: Store) -> None:
    version, created = _save(store, "Cook {{FOOD}}", system="You are a chef.")
    assert created
    assert (version.name, version.workspace, version.number) == ("chef", "w", 1)
    assert version.messages == [{"role": "user", "content": "Cook {{FOOD}}"}]
    assert (version.system, version.variables) == ("You are a chef.", ["FOOD"])
    assert version.content_hash == "hash-of-Cook {{FOOD}}-You are a chef."
    assert store.prompt_version("w", "chef", 1) == version


def test_saving_the_latest_content_again_returns_that_version(store: Store) -> None:
    first, _ = _save(store, "Cook {{FOOD}}")
    again, created = _save(store, "Cook {{FOOD}}")
    assert not created
    assert again == first
    assert [v.number for v in store.prompt_versions("w", "chef")] == [1]


def test_changed_content_gets_the_next_number_even_when_an_older_version_matches(
    store: Store,
) -> None:
    _save(store, "one")
    _save(store, "two")
    back, created = _save(store, "one")
    assert created
    assert back.number == 3
    assert [v.messages[0]["content"] for v in store.prompt_versions("w", "chef")] == [
        "one",
        "two",
        "one",
    ]


def test_latest_version_is_returned_without_a_number(store: Store) -> None:
    _save(store, "one")
    _save(store, "two")
    assert store.prompt_version("w", "chef").number == 2


def test_list_prompts_gives_latest_number_count_and_time_by_name(store: Store) -> None:
    _save(store, "a", name="zeta")
    _save(store, "a", name="alpha")
    latest, _ = _save(store, "b", name="alpha")
    listed = store.list_prompts("w")
    assert [(p.name, p.latest_version, p.versions) for p in listed] == [
        ("alpha", 2, 2),
        ("zeta", 1, 1),
    ]
    assert listed[0].updated_at == latest.created_at
    assert listed[0].updated_at.tzinfo is not None


def test_prompts_are_private_to_their_workspace(store: Store) -> None:
    _save(store, "mine", workspace="a")
    assert store.list_prompts("b") == []
    with pytest.raises(NotFoundError, match="no prompt 'chef'"):
        store.prompt_versions("b", "chef")


def test_unknown_version_number_is_not_found(store: Store) -> None:
    _save(store, "one")
    with pytest.raises(NotFoundError, match="no version 7"):
        store.prompt_version("w", "chef", 7)


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 201, "at@2"])
def test_names_outside_the_url_safe_alphabet_are_refused(store: Store, name: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"^name: expected 1 to 200"):
        _save(store, "text", name=name)


def test_concurrent_saves_of_different_content_get_distinct_numbers(store: Store) -> None:
    with ThreadPoolExecutor(6) as pool:
        saved = list(pool.map(lambda n: _save(store, f"text {n}")[0], range(12)))
    assert sorted(v.number for v in saved) == list(range(1, 13))
    assert len(store.prompt_versions("w", "chef")) == 12
