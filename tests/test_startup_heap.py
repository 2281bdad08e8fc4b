"""A serving process's startup heap is frozen: kept out of the cyclic collector's walks."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from promptmill.startup import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> tuple[_Node, _Node]:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return first, second


@pytest.fixture
def unfrozen_afterwards() -> Iterator[None]:
    """No automatic collection during the test (it must be the function's), none frozen after."""
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    gc.unfreeze()  # give the rest of the test run its collector back
    if was_enabled:
        gc.enable()


@pytest.mark.usefixtures("unfrozen_afterwards")
def test_startup_garbage_is_collected_before_the_rest_is_frozen() -> None:
    garbage = weakref.ref(_cycle()[0])  # unreachable, but only the collector frees a cycle
    kept = _cycle()

    freeze_startup_heap()

    assert garbage() is None
    assert gc.get_freeze_count() > 0
    assert all(tracked is not kept[0] for tracked in gc.get_objects())


@pytest.mark.usefixtures("unfrozen_afterwards")
def test_what_is_made_after_startup_is_still_collected() -> None:
    freeze_startup_heap()
    later = weakref.ref(_cycle()[0])

    gc.collect()

    assert later() is None
