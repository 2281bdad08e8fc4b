"""Classification tasks that name their answers: the prompt keeps exactly those answers.

A task such as "classify the sentiment of a review as positive or negative" fixes the
set of answers. A small planner adds its own: Qwen 1.5B's plan for that task said "use
only: positive, negative or neutral", "if the review is empty, classify as neutral" and
"positive if more than 5 positive words", and the answering model then called 13 of 60
negative reviews neutral (bench/downstream, sentiment at 0.78x the bare task). A prompt
engineer would never write a label or a counting rule the task did not give, so a
``classify`` plan here loses every step, rule, edge case and example that answers with
a label outside the task's set, and every rule that decides by a count the task never
stated. Only English wordings are recognised; a task in another language, or one whose
labels are not spelled out, keeps its plan as written.

A plan of any other kind has no label set to keep, but the planner still brings one in
from its exemplars: asked to make a support-ticket summary answer in JSON, it kept "use
only: billing, bug, account, feature_request, other", the ticket classifier exemplar's
rule, though the summary has no category at all (bench/improve, ticket-json). A closed
list ("use only: a, b or c") none of whose entries the request mentions is such a copy,
and is dropped; a list the request draws on ("use only: Celsius or Fahrenheit" for a
weather task that says Celsius) stays. So is the classifier's catch-all, "if the ticket
is empty or not about the product, answer other": it turned up in plans for a meeting's
action items, a language tutor and BIG-bench's colored objects ("If the learner's text
is not English, answer other"; "otherwise, select other"), where "other" answers nothing.
A line that answers with "other", in a plan of another kind whose request never says
"other", is dropped.

Nor does a prompt engineer refer to a "predefined" set the request never gives. Colored
objects' plan said "Check if the location matches a predefined color" and "Only select
one of the predefined colors", and a spam filter's "Use a predefined list of spam
keywords": the assistant has no such list, and guesses one. Such a line is dropped in a
plan of any kind, unless the request says "predefined", or names its answers and the
line means them ("use only the predefined labels").
"""

from __future__ import annotations

import re

from promptmill.engine.plan import CLASSIFY_KIND, PromptPlan, folded

# Where a task spells out its answers: "as positive or negative", "with the single word
# positive or negative", "one of: billing, bug or other", "labels spam, ham". The list is
# read ahead, so each cue is tried: in "Label SMS messages as spam or ham" the "as".
_NAMING = re.compile(
    r"(?:(?<!such\s)(?<!well\s)\bas|\b(?:single|one)\s+(?:word|label|category)|\blabels?"
    r"|\bcategories|\bclasses|\bone\s+of|\beither)(?=\s*:?\s+(?P<rest>[^.;:!?()\n]+))",
    re.IGNORECASE,
)
# Where a plan line answers with a label: "classify as neutral", "answer neutral", "label
# it mixed", "use only: positive, negative or neutral", "output unknown", "select other".
# "answer only: a or b" is read by the second branch, never as the label "only"; the
# word after "the" is a noun, never the label ("output the answer", "tag the message spam");
# SQL's upper-case SELECT is no answer.
_ANSWERING = re.compile(
    r"\b(?:classify|categori[sz]e|label|mark|tag|answer|respond|reply|output|return|say"
    r"|(?-i:[Ss]elect|[Pp]ick))(?!\s+only\b)"
    r"(?:\s+(?:it|them)|\s+(?:this|these|that|the|each|every|a|an)\s+\w+)?\s+(?:as|with)?\s*:?\s*"
    r"(?P<rest>[^.;:!?()\n]+)"
    r"|\b(?:use|answer|choose|select|pick)\s+only\s*:?\s*(?P<only>[^.;!?()\n]+)",
    re.IGNORECASE,
)
# The end of a list of labels: a word that starts what follows it.
_LIST_END = re.compile(
    r"\s+(?:based|according|depending|from|in|for|by|using|given|when|if|that|which|to"
    r"|and\s+(?:nothing|no|explain|give|write))\b.*",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"\s*,\s*(?:or\s+)?|\s+or\s+", re.IGNORECASE)
_LABEL = re.compile(r"^[\"'“‘`]?(?P<label>[a-z][\w-]*(?:\s+[a-z][\w-]*){0,2})[\"'”’`]?$", re.I)
# Words that begin a phrase, not a label ("answer with the label", "classify it as one").
_NOT_LABELS = frozenset(
    {"a", "an", "the", "one", "only", "either", "single", "exactly", "just", "your", "its"}
    | {"their", "this", "that", "these", "those", "each", "every", "any", "all", "no", "none"}
    | {"of", "with"}
)
_PREDEFINED = re.compile(r"\bpre-?defined\b", re.IGNORECASE)
# "the predefined labels" of a task that names its labels are those labels.
_PREDEFINED_ANSWERS = re.compile(
    r"\bpre-?defined\s+(?:labels?|categor(?:y|ies)|class(?:es)?|answers?|options?)\b", re.IGNORECASE
)
_THRESHOLD = re.compile(
    r"\b(?:more|fewer|less|greater)\s+than\s+(?P<a>\d+)|\bat\s+(?:least|most)\s+(?P<b>\d+)"
    r"|\b(?:over|under|above|below|exceeds?)\s+(?P<c>\d+)\b",
    re.IGNORECASE,
)


def named_answers(task: str) -> frozenset[str]:
    """The answers ``task`` spells out (folded), or an empty set when it names none.

    A list counts only with at least two labels of one to three plain words each, so
    "as a formal letter" or "as JSON" is not a label set.
    """
    answers: set[str] = set()
    for match in _NAMING.finditer(task):
        answers |= _label_list(match.group("rest"))
    return frozenset(answers)


def keep_named_answers(plan: PromptPlan, task: str) -> PromptPlan:
    """``plan`` without labels or counting rules ``task`` never gave (see the module docstring).

    ``task`` is everything the request said (for improve, the original and its feedback).
    """
    said = bool(_PREDEFINED.search(task))

    def predefined(line: str) -> bool:
        if said or not _PREDEFINED.search(line):
            return False
        # The task's answers are read only for a line about predefined answers (rare).
        return not (_PREDEFINED_ANSWERS.search(line) and named_answers(task))

    if plan.task_kind != CLASSIFY_KIND:
        return plan.without_lines(
            lambda line: (
                _lists_unnamed_set(line, task) or _answers_catch_all(line, task) or predefined(line)
            )
        )
    answers = named_answers(task)
    numbers = set(re.findall(r"\d+", task))

    def foreign(line: str) -> bool:
        return (
            (bool(answers) and _answers_outside(line, answers))
            or _invents_count(line, numbers)
            or predefined(line)
        )

    plan = plan.without_lines(foreign)
    if not answers:
        return plan
    return plan.changed(examples=[e for e in plan.examples if folded(e.output) in answers])


def _label_list(text: str) -> frozenset[str]:
    text = _LIST_END.sub("", text.strip())
    parts = [p for p in _SEPARATOR.split(text) if p]
    if len(parts) < 2 or (" or " not in f" {text.casefold()} " and "," not in text):
        return frozenset()
    labels = set()
    for part in parts:
        match = _LABEL.match(part.strip())
        if match is None:
            return frozenset()
        label = folded(match.group("label"))
        if label.split()[0] in _NOT_LABELS:
            label = " ".join(label.split()[1:])
            if not label or label.split()[0] in _NOT_LABELS:
                return frozenset()
        labels.add(label)
    if "not" in labels and len(labels) == 2:  # "as sarcastic or not": "not sarcastic"
        (other,) = labels - {"not"}
        labels = {other, f"not {other}"}
    return frozenset(labels)


def _answers_outside(line: str, answers: frozenset[str]) -> bool:
    """Whether ``line`` answers with a label that is not one of ``answers``."""
    for match in _ANSWERING.finditer(line):
        listed = match.group("only")
        if listed is not None:
            labels = _label_list(listed) or _single_label(listed)
            if labels - answers:
                return True
            continue
        rest = _LIST_END.sub("", match.group("rest").strip())
        labels = _label_list(rest) or _single_label(rest)
        if labels and not labels & answers and not _mentions_any(rest, answers):
            return True
    return False


def _lists_unnamed_set(line: str, source: str) -> bool:
    """Whether ``line`` allows only a list of answers of which ``source`` names none."""
    for match in _ANSWERING.finditer(line):
        listed = match.group("only")
        labels = _label_list(listed) if listed is not None else frozenset()
        if labels and not any(_names(source, label) for label in labels):
            return True
    return False


def _answers_catch_all(line: str, source: str) -> bool:
    """Whether ``line`` answers "other", a classification's catch-all, unasked by ``source``.

    Only "other" alone is that label ("answer other.", "classify it as 'other'"), never
    "answer other questions politely".
    """
    if _names(source, "other"):
        return False
    return any(
        match.group("rest") is not None
        and _single_label(_LIST_END.sub("", match.group("rest").strip())) == {"other"}
        for match in _ANSWERING.finditer(line)
    )


def _names(text: str, label: str) -> bool:
    """Whether ``text`` holds ``label`` as a whole word or phrase, in any case."""
    pattern = r"\s+".join(re.escape(word) for word in label.split())
    return re.search(rf"(?<![\w-]){pattern}(?![\w-])", text.casefold()) is not None


def _single_label(text: str) -> frozenset[str]:
    """The one label ``text`` is ("neutral", "'other'"), never a word like "briefly"."""
    words = text.split()
    match = _LABEL.match(words[0].rstrip(",")) if len(words) == 1 else None
    if match is None:
        return frozenset()
    label = folded(match.group("label"))
    if label in _NOT_LABELS or label.endswith("ly"):
        return frozenset()
    return frozenset({label})


def _mentions_any(text: str, answers: frozenset[str]) -> bool:
    words = f" {folded(text)} "
    return any(f" {answer} " in words for answer in answers)


def _invents_count(line: str, numbers: set[str]) -> bool:
    """Whether ``line`` decides by a count ("more than 5 positive words") the task never gave."""
    for match in _THRESHOLD.finditer(line):
        number = match.group("a") or match.group("b") or match.group("c")
        if number not in numbers:
            return True
    return False
