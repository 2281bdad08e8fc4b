"""How the BIG-bench benchmark compares arms and assembles a run made in pieces
(``bench.bigbench.run``): paired tests, merging earlier pieces, reading prefilled answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.bigbench.run import ask, paired, pooled, previous_arms

from promptmill.backends.base import ChatReply, ChatRequest
from promptmill.engine.versions import PromptTemplate
from promptmill.types import PromptMessage


def arm(*correct: bool) -> dict[str, Any]:
    return {"rows": [{"id": f"t#{i}", "correct": c} for i, c in enumerate(correct)]}


def test_the_paired_test_counts_items_only_one_arm_got_right() -> None:
    bare = arm(True, False, False, False, True)
    other = arm(True, True, True, True, False)
    test = paired(bare, other)
    assert test == {"items": 5, "wins": 3, "losses": 1, "p_value": 0.625}


def test_an_arm_that_failed_has_no_paired_test() -> None:
    assert paired(arm(True), {"error": "api_error: down"}) is None


def test_the_pooled_test_adds_every_tasks_discordant_items() -> None:
    results = [
        {"paired": {"optimized": {"items": 10, "wins": 4, "losses": 0, "p_value": 0.125}}},
        {"paired": {"optimized": {"items": 10, "wins": 3, "losses": 0, "p_value": 0.25}}},
    ]
    test = pooled(results, "optimized")
    assert test["items"] == 20 and (test["wins"], test["losses"]) == (7, 0)
    assert test["p_value"] == 0.0156


def test_earlier_pieces_are_reused_only_under_the_same_configuration(tmp_path: Path) -> None:
    path = tmp_path / "bigbench.json"
    ran = {"rows": [], "code": "abc123"}
    path.write_text(
        json.dumps(
            {
                "items": 10,
                "seed": 0,
                "tasks": [{"task": "snarks", "arms": {"bare": ran, "generated": {"error": "x"}}}],
            }
        )
    )
    # Only arms that really ran (they carry the code version) are taken.
    assert previous_arms(path, {"items": 10, "seed": 0}) == {"snarks": {"bare": ran}}
    assert previous_arms(path, {"items": 20, "seed": 0}) == {}
    assert previous_arms(tmp_path / "absent.json", {"items": 10}) == {}


def test_the_optimizers_settings_bind_only_the_optimized_arm(tmp_path: Path) -> None:
    # An optimizer run with another training sample or budget is still compared with the
    # bare and generated arms, which answer the same items; an earlier optimized arm
    # trained otherwise is not reused.
    path = tmp_path / "bigbench.json"
    ran = {"rows": [], "code": "abc123"}
    arms = {"bare": ran, "generated": ran, "optimized": ran}
    tasks = [{"task": "snarks", "arms": arms}]
    path.write_text(json.dumps({"items": 10, "seed": 0, "train": 6, "budget": 18, "tasks": tasks}))
    other = {"items": 10, "seed": 0, "train": 12, "budget": 36}
    assert previous_arms(path, other) == {"snarks": {"bare": ran, "generated": ran}}
    assert previous_arms(path, {**other, "train": 6, "budget": 18}) == {"snarks": arms}
    assert previous_arms(path, {**other, "items": 20}) == {}


class _Backend:
    def chat(self, request: ChatRequest) -> ChatReply:
        return ChatReply(text="(B)</answer>", input_tokens=1, output_tokens=1)


def test_a_prefill_is_read_as_the_opening_of_the_answer() -> None:
    template = PromptTemplate(
        messages=[PromptMessage.of("user", "Which?"), PromptMessage.of("assistant", "<answer>")]
    )
    assert ask(_Backend(), template, 8, 1.0)[0] == "<answer>(B)</answer>"
