"""Reading the chosen option out of a model's free-text answer to a lettered question.

Every arm of the BIG-bench benchmark, and the optimizer's grader, read answers with
``extract_choice``, so its leniency helps or hurts them all equally.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bench.bigbench.data import LETTERS
from bench.downstream.answers import answer_region

_ANSWER_IS = re.compile(
    r"(?i:answer|option|choice)\s*(?i:is|would be)?\s*:?\s*\(?([A-Z])\)?(?![A-Za-z])"
)
_LEADING = re.compile(r"^\W*?\(?([A-Z])(?:\)|\.|:|$)")
_PARENTHESISED = re.compile(r"\(([A-Z])\)")
_CLOSING = re.compile(r"(?<![A-Za-z])([A-Z])\)")


def extract_choice(reply: str, options: Sequence[str]) -> str | None:
    """The letter of the option ``reply`` chooses, or None when it names none.

    Read in this order, within the answer region (answer tags, else the reply without
    its reasoning block): a reply opening with a letter ("(B)", "B)", "B. ...", "B");
    the last "answer is (B)" / "Answer: B"; the last "(B)"; the last "B)"; then the
    option's own text, the one named last. Only letters of existing options count.
    """
    valid = LETTERS[: len(options)]
    region = answer_region(reply).strip()
    if not region:
        return None
    leading = _LEADING.match(region)
    if leading and leading.group(1) in valid:
        return leading.group(1)
    for pattern in (_ANSWER_IS, _PARENTHESISED, _CLOSING):
        letters = [m.group(1).upper() for m in pattern.finditer(region)]
        letters = [letter for letter in letters if letter in valid]
        if letters:
            return letters[-1]
    lowered = region.casefold()
    named = [
        (lowered.rfind(option.casefold()), letter)
        for letter, option in zip(valid, options, strict=False)
        if option.strip() and option.casefold() in lowered
    ]
    return max(named)[1] if named else None
