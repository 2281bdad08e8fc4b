"""Tasks that answer questions: the question is what the assistant receives.

A task worded "answer questions about X" is run on one question at a time, so its
prompt needs the question as an input. The embedded planner (Qwen 1.5B) plans X instead:
for BIG-bench's "Answer questions about a table of penguins and their attributes" its
only input was TABLE, for "Answer questions about which times certain events could
have occurred" CONDITIONS and EVENTS, and for "Answer extremely simple questions about
the colors of objects on a surface" SURFACE and OBJECT (bench/results/bigbench.json).
None of those prompts says what it is asked, so a user has nowhere to put the question.

So such a plan is told (a soft problem, fed back while attempts remain) and, if it still
has no input for the question, is given one, first. Its other inputs stay: material
sent apart from the question (the table, a policy document) is real, and which it is
cannot be told from the words alone.
"""

from __future__ import annotations

import re

from promptmill.engine.plan import MAX_INPUTS, PlanInput

# "answer questions", "answers customer questions", "answer extremely simple questions",
# "answering the user's questions": the verb, up to three words, then the noun. English
# wording, as ``choice.py``'s.
_ANSWERS_QUESTIONS = re.compile(
    r"\banswer(?:s|ing)?\s+(?:[\w'-]+\s+){0,3}?questions?\b", re.IGNORECASE
)
# Name words of an input that carries the question.
_QUESTION_WORDS = frozenset({"question", "questions", "query", "queries", "ask"})

QUESTION_INPUT = PlanInput(
    name="QUESTION", description="The question to answer, as asked, with everything it gives"
)
NO_QUESTION_INPUT = (
    "the task answers questions, but no input is the question: add the input QUESTION "
    "(the question to answer, as asked, with everything it gives), and keep another input "
    "only for material sent apart from the question"
)


def asks_questions(task: str) -> bool:
    """Whether ``task`` is to answer questions (English wording)."""
    return bool(_ANSWERS_QUESTIONS.search(task))


def lacks_question_input(inputs: list[PlanInput], task: str) -> bool:
    """Whether a plan with ``inputs`` answers the questions ``task`` asks for with no
    input to ask them."""
    return asks_questions(task) and not any(
        set(item.name.lower().split("_")) & _QUESTION_WORDS for item in inputs
    )


def with_question_input(inputs: list[PlanInput], task: str) -> list[PlanInput]:
    """``inputs``, with ``QUESTION`` first when they answer questions without one."""
    if not lacks_question_input(inputs, task):
        return inputs
    return [QUESTION_INPUT, *inputs][:MAX_INPUTS]
