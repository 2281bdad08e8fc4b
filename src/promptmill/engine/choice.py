"""Tasks that choose: which of several items or options the input gives fits the task.

A choice task ("determine which of two sentences is sarcastic") has an answer that is one
of the candidates its input carries, usually a question followed by lettered options. A
small planning model rewrites such a task into another one: a label of one item
("sarcastic" / "not sarcastic"), a rewrite of the input, "the correct pronoun". The
answering model then follows that invented format and names no option: on BIG-bench
items the embedded Qwen 1.5B scored 0% with such prompts where the bare task scored
60% (bench/results/bigbench.md, snarks), and a planner rule plus a choice exemplar did
not change what it wrote. So the choice is kept deterministically, here: a task worded
as a choice gets the ``choose`` kind and keeps its own question as the objective, and the
renderer words a choice's answer itself (``render.py``).
"""

from __future__ import annotations

import re

from promptmill.engine.plan import CHOICE_KIND, PlanExample, PromptPlan, clean_sentence, folded

# "Which" as a question ("determine which of", "which one", a task opening with "Which"),
# never the relative "which" of "emails, which customers send"; choice verbs only with
# a set to choose from ("choose between", "select one of the options", "select the edit
# that ..."), never "choose a name for ...".
_CHOICE = re.compile(
    r"^\s*which\b"
    r"|\b(?:determine|decide|identify|tell|say|judge|predict|guess|state|find|choose|select"
    r"|pick|about|asks?|says?)\s+which\b"
    r"|\bwhich\s+(?:of|one)\b"
    r"|\b(?:choose|select|pick)\s+(?:between|among|from|one\s+of)\b"
    r"|\b(?:choose|select|pick)\b[^.?!]*\b(?:options?|alternatives|candidates|choices)\b"
    r"|\b(?:choose|select|pick)\s+the\s+(?:[\w-]+\s+){0,3}(?:that|which)\b",
    re.IGNORECASE,
)


def asks_to_choose(task: str) -> bool:
    """Whether ``task`` asks which of several given items or options fits (English wording)."""
    return bool(_CHOICE.search(task))


def keep_choice(plan: PromptPlan, task: str) -> PromptPlan:
    """``plan`` for a task worded as a choice, made to answer that choice.

    Its kind becomes ``choose`` (a ``reason`` plan keeps its reasoning; the renderer asks
    it, too, to name the option), and when its objective no longer asks the task's
    question (no "which", "choose"...), the task's own sentence that asks it becomes the
    objective.
    """
    update: dict[str, object] = {}
    if plan.task_kind != "reason":
        update["task_kind"] = CHOICE_KIND
    if not asks_to_choose(plan.objective):
        asking = [s for s in re.split(r"(?<=[.!?])\s+", task.strip()) if asks_to_choose(s)]
        objective = clean_sentence(asking[0] if asking else task)
        if objective:
            update["objective"] = objective
    return plan.model_copy(update=update)


def settle_choice(plan: PromptPlan, task: str) -> PromptPlan:
    """``plan`` made a choice exactly when ``task`` is worded as one.

    A task worded as a choice gets ``keep_choice`` (a small planner rewrites it into a
    label otherwise). A ``choose`` plan for any other task loses that kind, as the
    renderer words a choice's answer itself ("which item fits, then the letter of the
    option"): Qwen 1.5B called "list the action items of a meeting transcript" a choice,
    which would have replaced its table of owners and due dates with a letter.
    """
    if asks_to_choose(task):
        return with_choice_examples(keep_choice(plan, task))
    if plan.task_kind == CHOICE_KIND:
        return plan.model_copy(update={"task_kind": ""})
    return plan


def with_choice_examples(plan: PromptPlan) -> PromptPlan:
    """``plan`` keeping, for a ``choose`` plan, only examples that answer with an option.

    A choice's answer is one of the candidates in its input, so an example whose ideal
    output appears nowhere in its input ("I'm so happy!" -> "not sarcastic") teaches a
    label the question never offers, and one that repeats its whole input ("The Beatles"
    -> "The Beatles...") chooses nothing; a small model copies either.
    """
    if plan.task_kind != CHOICE_KIND:
        return plan
    return plan.changed(examples=[e for e in plan.examples if _names_one_of_its_options(e)])


def _names_one_of_its_options(example: PlanExample) -> bool:
    answer, question = folded(example.output), folded(example.input)
    return bool(answer) and answer in question and answer != question
