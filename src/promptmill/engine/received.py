"""What a task says its assistant receives, and a plan's inputs must hold.

Two kinds of input a small planner leaves out, found from the task's own words (English
wording, as ``choice.py``'s):

- **The question**, for a task that answers questions. A task worded "answer questions
  about X" is run on one question at a time, and the embedded planner (Qwen 1.5B) plans
  X instead: for BIG-bench's "Answer questions about a table of penguins and their
  attributes" its only input was TABLE, for "Answer extremely simple questions about
  the colors of objects on a surface" SURFACE and OBJECT (bench/results/bigbench.json).
  None of those prompts has a place for the question.
- **The material it works from**, named by the task: "answers questions from the
  product documentation", "only from the employee handbook excerpt we provide", "the
  travel expense policy we provide", "questions about our return policy".
  bench/quality's saas-helpdesk and long-onboarding prompts had no input for the
  documentation or the handbook excerpt, yet told the assistant to answer only from
  it: a user has nowhere to put it, and the assistant answers from what it guesses.

Such a plan is told (a soft problem, fed back while attempts remain) and, if an input is
still missing at the end, given it: the question first, the material after the plan's
own inputs. Nothing is removed: the planner's other inputs may be real material, and
which they are cannot be told from the words alone.

A question is also answered, not classified. Shown a ticket classifier among its
exemplars, the planner made "Answer customer questions about our return policy" a
``classify`` plan ("Classify a customer question ... into exactly one category", "use
only: return_policy, refund, product_return, return_process, other"), and BIG-bench's
colored-objects and penguins tasks too. Unless the task asks for a category, such a plan
is told, and at the end loses the kind (``answer_set`` then drops the labels the task
never named) and its objective, which becomes the task's own words for what it answers.
An objective that classifies counts as a classification whatever the kind: colored
objects' plan kept "Classify a color ... as one of the predefined colors (red, orange,
yellow, green, blue, indigo, violet)" after losing the kind, and the answering model said
"red" to questions whose answer was mauve or pink (50% of ten items; the same prompt
with the task's own objective 70%, as the bare task).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from promptmill.engine.checks import to_variable_name
from promptmill.engine.plan import CLASSIFY_KIND, PlanInput, PromptPlan

# "answer questions", "answers customer questions", "answer extremely simple questions",
# "answering the user's questions": the verb, up to three words, then the noun.
_ANSWERS_QUESTIONS = re.compile(
    r"\banswer(?:s|ing)?\s+(?:[\w'-]+\s+){0,3}?questions?\b", re.IGNORECASE
)
# A task that asks for a category or label (then a question task may be a classification).
_ASKS_FOR_LABELS = re.compile(
    r"\b(?:classif|categori[sz]|label|tag(?:s|ging)?\b|sort|rout(?:e|es|ed|ing)\b|triag)",
    re.IGNORECASE,
)
# An objective that sorts rather than answers: "Classify a customer question into ...".
_CLASSIFYING_OBJECTIVE = re.compile(r"^\W*(?:classif|categori[sz])", re.IGNORECASE)
# Where the task's clause about answering ends: "answers questions from the docs, and
# escalates ..." is "answers questions from the docs". An assistant "that answers ...
# and escalates" goes on with another verb; "answer questions about penguins and their
# attributes" does not.
_CLAUSE_END = re.compile(r"[.;:!?\n]|,\s")
_NEXT_VERB = re.compile(r"\s+(?:and|but|while|then|or)\s+(?=[a-z]+s\b)", re.IGNORECASE)
NOT_A_CLASSIFICATION = (
    "the task asks to answer questions, not to put them in categories: set task_kind to "
    "the kind of answering it needs, make the objective answering the question, and say "
    "in output_format what the answer to a question contains"
)
# Name words of an input that carries the question, and of one that is code, not a
# question (bench/quality's sql-agent, which answers business questions, had only the
# input SQL_QUERY: the query it should write).
_QUESTION_WORDS = frozenset({"question", "questions", "query", "queries"})
_CODE_WORDS = frozenset({"sql", "code", "regex", "script"})

QUESTION_INPUT = PlanInput(
    name="QUESTION", description="The question to answer, as asked, with everything it gives"
)
NO_QUESTION_INPUT = (
    "the task answers questions, but no input is the question: add the input QUESTION "
    "(the question to answer, as asked, with everything it gives), and keep another input "
    "only for material sent apart from the question"
)

# Kinds of material a task hands its assistant to work from.
_MATERIAL = (
    r"documentation|docs|documents?|handbook|manual|guide|faq|knowledge\s+base|policy"
    r"|policies|excerpts?|articles?|passages?|context|catalog(?:ue)?|menu|contract"
    r"|guidelines|notes|transcript|report"
)
_MATERIAL_WORD = re.compile(rf"^(?:{_MATERIAL})$", re.IGNORECASE)
_ANY_MATERIAL_WORD = re.compile(_MATERIAL, re.IGNORECASE)
"""Where every ``_GIVEN_MATERIAL`` phrase ends: a task without one (most) names none."""
_PHRASE = rf"((?:[a-z][\w-]*\s+){{0,3}}(?:{_MATERIAL}))"
_NOT_FOLLOWED_BY_OF = r"(?!\s+(?:of|on|about)\b)"  # "from the context of the sentence"
# "from the product documentation", "only from our FAQ", "the handbook excerpt we
# provide", "the provided context", "questions about our return policy" (the assistant
# cannot know a policy of "ours" unless it is given).
_GIVEN_MATERIAL = (
    re.compile(rf"\b(?:our|my)\s+{_PHRASE}\b{_NOT_FOLLOWED_BY_OF}", re.IGNORECASE),
    re.compile(
        rf"\bfrom\s+(?:the|our|your|their|its|this|an?)\s+{_PHRASE}\b{_NOT_FOLLOWED_BY_OF}",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b{_PHRASE}\s+(?:that\s+)?(?:we|you|they|the\s+user)\s+(?:provide|give|supply"
        r"|paste|attach|send)s?\b",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b(?:provided|given|supplied|attached|pasted)\s+{_PHRASE}\b{_NOT_FOLLOWED_BY_OF}",
        re.IGNORECASE,
    ),
)
# The phrase starts after the last of these: "about the travel policy" is "travel policy".
_FUNCTION_WORDS = frozenset(
    {"the", "our", "your", "their", "its", "this", "these", "a", "an", "only", "from", "about"}
    | {"on", "in", "with", "using", "to", "of", "for", "and", "or", "all", "any", "some"}
)
# Input names that hold any material ("CONTEXT", "SOURCE_DOCUMENT", "REFERENCE").
_ANY_MATERIAL = frozenset({"context", "document", "documents", "source", "reference"})


def _stem(word: str) -> str:
    """One key per material: "docs", "document", "documentation"; "policy", "policies"."""
    return "doc" if word.startswith("doc") else word[:4]


def asks_questions(task: str) -> bool:
    """Whether ``task`` is to answer questions."""
    return bool(_ANSWERS_QUESTIONS.search(task))


def classifies_questions(plan: PromptPlan, task: str) -> bool:
    """Whether ``plan`` classifies the questions ``task`` asks it to answer."""
    classifies = plan.task_kind == CLASSIFY_KIND or _CLASSIFYING_OBJECTIVE.match(plan.objective)
    return bool(classifies) and asks_questions(task) and not _ASKS_FOR_LABELS.search(task)


def answering_objective(task: str) -> str:
    """The task's own clause about answering, as an objective: "A helpdesk assistant that
    answers questions from the product documentation and escalates ..." gives "Answer
    questions from the product documentation."; "" when the task has none."""
    match = _ANSWERS_QUESTIONS.search(task)
    if match is None:
        return ""
    clause = _CLAUSE_END.split(task[match.start() :], maxsplit=1)[0]
    if match.group(0).lower().startswith("answers"):
        clause = _NEXT_VERB.split(clause, maxsplit=1)[0]
    return " ".join(["Answer", *clause.split()[1:]]) + "."


def lacks_question_input(inputs: list[PlanInput], task: str) -> bool:
    """Whether a plan with ``inputs`` answers the questions ``task`` asks for with no
    input to ask them."""
    return asks_questions(task) and not any(_holds_question(item) for item in inputs)


@dataclass(frozen=True)
class Material:
    """Material the task names as given to the assistant, and the input that would hold it."""

    phrase: str  # as the task words it, without a determiner: "employee handbook excerpt"

    @property
    def kinds(self) -> frozenset[str]:
        """Its words that name a material, cut to a stem ("hand", "exce"; "base" for a
        knowledge base)."""
        words = self.phrase.split()
        return frozenset(_stem(w) for w in words if _MATERIAL_WORD.match(w)) | {_stem(words[-1])}

    @property
    def input(self) -> PlanInput:
        return PlanInput(
            name=to_variable_name(self.phrase),
            description=f"The {self.phrase} the assistant works from, as provided",
        )

    def held_by(self, item: PlanInput) -> bool:
        words = _name_words(item)
        return bool(words & _ANY_MATERIAL) or bool({_stem(w) for w in words} & self.kinds)


def given_materials(task: str) -> list[Material]:
    """The materials ``task`` says its assistant works from, each once (the longest
    wording of it), in order."""
    found: list[Material] = []
    if not _ANY_MATERIAL_WORD.search(task):
        return found
    for pattern in _GIVEN_MATERIAL:
        for match in pattern.finditer(task):
            words = match.group(1).lower().split()
            after = [i + 1 for i, word in enumerate(words) if word in _FUNCTION_WORDS]
            words = words[max(after, default=0) :]
            material = Material(phrase=" ".join(words))
            same = [m for m in found if m.kinds & material.kinds]
            if not same:
                found.append(material)
            elif len(material.phrase) > len(same[0].phrase):
                found[found.index(same[0])] = material
    return found


def missing_materials(inputs: list[PlanInput], task: str) -> list[Material]:
    """The materials of ``task`` that none of ``inputs`` holds."""
    return [m for m in given_materials(task) if not any(m.held_by(item) for item in inputs)]


def no_material_input(material: Material) -> str:
    """The soft problem fed back to the planner for a material no input holds."""
    return (
        f"the task gives the assistant the {material.phrase}, but no input holds it: add "
        f"the input {material.input.name} (the {material.phrase} it works from)"
    )


def with_received_inputs(inputs: list[PlanInput], task: str) -> list[PlanInput]:
    """``inputs`` with what ``task`` says the assistant receives and they lack: the
    question first, the materials last.

    The result may hold more than ``plan.MAX_INPUTS``, which bounds what the planner
    writes, not what is owed: cut there, a material added last would be lost again
    (bench/quality's long-onboarding has six inputs)."""
    question = [QUESTION_INPUT] if lacks_question_input(inputs, task) else []
    materials = [m.input for m in missing_materials(inputs, task)]
    return [*question, *inputs, *materials]


def _holds_question(item: PlanInput) -> bool:
    words = _name_words(item)
    return bool(words & _QUESTION_WORDS) and not words & _CODE_WORDS


def _name_words(item: PlanInput) -> set[str]:
    return set(item.name.lower().split("_"))
