"""Plan parts copied from the planner's exemplars into a plan on another subject: dropped.

The planner is shown three worked plans (``plan_exemplars.py``) and a small model copies
them. Asked to improve "summarize this support ticket ... say how angry the customer is
from 1 to 5" with the feedback "also extract the product name and make the output JSON",
Qwen 1.5B planned the JSON fields ``title`` ("The job title"), ``company`` ("The
employer") and ``salary`` beside ``product`` and ``anger_level``, the context "An HR team
uses you to turn support tickets into database records" and the example "Acme hires a
Python Developer in Berlin, EUR 70-85k." (bench/improve, ticket-json); an earlier run of
the same case kept the ticket classifier's "use only: billing, bug, account,
feature_request, other". The answering model would fill in a job title for every ticket.

So a step, rule, edge case, output field or context that uses a word of an exemplar's
own subject (``EXEMPLAR_SUBJECTS``) is dropped when the request never uses any word of
that subject, and so is an example that uses two: an example's made-up company may pay
a "salary" in a SQL task's example (bench/quality, sql-generator), but one that also
"hires" in "Berlin" is the exemplar's. A request on the exemplar's subject (a travel
planner, a job posting parser) keeps its whole plan.
"""

from __future__ import annotations

import re

from promptmill.engine.plan import PromptPlan
from promptmill.engine.plan_exemplars import EXEMPLAR_SUBJECTS

_WORD = re.compile(r"[a-z][a-z_]*")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def without_exemplar_copies(plan: PromptPlan, source: str) -> PromptPlan:
    """``plan`` without the parts that use the subject of an exemplar ``source`` is not on."""
    requested = _words(source)
    foreign = frozenset().union(
        *(subject for subject in EXEMPLAR_SUBJECTS if not subject & requested)
    )
    if not foreign:
        return plan

    def copied(text: str, words: int = 1) -> bool:
        if words == 1:  # one shared word is enough: no set of the text's words to build
            return not foreign.isdisjoint(_WORD.findall(text.casefold()))
        return len(_words(text) & foreign) >= words

    plan = plan.without_lines(copied)
    return plan.changed(
        output_fields=[f for f in plan.output_fields if not copied(f"{f.name} {f.description}")],
        examples=[e for e in plan.examples if not copied(f"{e.input} {e.output}", 2)],
        context="" if copied(plan.context) else plan.context,
    )
