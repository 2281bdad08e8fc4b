"""Which language a task (or a prompt to improve) is written in, cheaply and offline.

Prompts are written in the language of the task, so the engine needs to know it before
planning. Task texts are short (often one sentence), which is where statistical
detectors (langdetect, langid) are least reliable and need megabytes of profiles; the
question here is narrower: "is this English, and if not, which language can we name
to the planner?". So the rule is small and deterministic:

1. The script decides where it can: kana means Japanese, Hangul Korean, Han alone
   Chinese, Cyrillic Russian (Ukrainian when its own letters appear), and so on.
2. Latin text is scored by its most common function words (and letters only one
   language uses, such as ``ß`` or ``ñ``); English wins ties, and text with no evidence
   is treated as English, which is what the engine did before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """A language the engine can name: ISO 639-1 ``code`` and its English ``name``."""

    code: str
    name: str


ENGLISH = Language("en", "English")

_BY_CODE = {
    language.code: language
    for language in (
        ENGLISH,
        Language("ru", "Russian"),
        Language("uk", "Ukrainian"),
        Language("de", "German"),
        Language("fr", "French"),
        Language("es", "Spanish"),
        Language("it", "Italian"),
        Language("pt", "Portuguese"),
        Language("nl", "Dutch"),
        Language("ja", "Japanese"),
        Language("zh", "Chinese"),
        Language("ko", "Korean"),
        Language("ar", "Arabic"),
        Language("he", "Hebrew"),
        Language("el", "Greek"),
        Language("hi", "Hindi"),
        Language("th", "Thai"),
    )
}

# (pattern of a script's letters, language); the first script that holds a clear share of
# the letters wins. Kana come before Han: Japanese mixes both, Chinese has no kana.
_SCRIPTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\u3040-\u30ff]"), "ja"),
    (re.compile(r"[\uac00-\ud7af\u1100-\u11ff]"), "ko"),
    (re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]"), "zh"),
    (re.compile(r"[\u0400-\u04ff]"), "ru"),
    (re.compile(r"[\u0600-\u06ff]"), "ar"),
    (re.compile(r"[\u0590-\u05ff]"), "he"),
    (re.compile(r"[\u0370-\u03ff]"), "el"),
    (re.compile(r"[\u0900-\u097f]"), "hi"),
    (re.compile(r"[\u0e00-\u0e7f]"), "th"),
)
_UKRAINIAN_LETTERS = re.compile(r"[іїєґ]")


def words_of(spaced: str) -> frozenset[str]:
    """The set of the space-separated words in ``spaced`` (word lists read as text)."""
    return frozenset(spaced.split())


# The commonest short function words of each Latin-script language, chosen to overlap
# little: a word shared by two languages (``de``, ``a``, ``en``) is left out of both.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": words_of(
        "the and of to for with that this is are be from by an on at as it or which "
        "who will each your you their what when into"
    ),
    "de": words_of(
        "der die das und ist nicht mit für von den dem ein eine einen einer für sich auch "
        "auf bei oder wird werden zu zum zur ich du sie wir ihr aus nach über"
    ),
    "fr": words_of(
        "le la les et est des du une un pour dans avec sur qui que ne pas au aux ce cette "
        "ces son sa ses vous nous il elle par leur être"
    ),
    "es": words_of(
        "el los las y del es una un para por con que se su sus al lo como pero más este "
        "esta estos usted nosotros ser"
    ),
    "it": words_of(
        "il lo gli e è della delle degli di per con che non una uno sono nel nella alla "
        "questo questa essere"
    ),
    "pt": words_of(
        "o os as e é do da dos das um uma para com não que em no na ao à pelo pela você ser"
    ),
    "nl": words_of(
        "het een en van is niet met voor op dat die zijn wordt worden ook aan bij naar je jij wij"
    ),
}
FUNCTION_WORDS = frozenset().union(*_FUNCTION_WORDS.values())
"""Every listed function word of the Latin-script languages (no meaning of their own)."""
_LANGUAGES_OF_WORD: dict[str, tuple[str, ...]] = {
    word: tuple(code for code, vocab in _FUNCTION_WORDS.items() if word in vocab)
    for word in FUNCTION_WORDS
}
"""The languages listing each function word: a text's words are scored in one pass."""
_ANY_SCRIPT = re.compile("|".join(pattern.pattern for pattern, _ in _SCRIPTS))
"""A letter of any of ``_SCRIPTS``: a text with none (most texts) skips their counts."""

_LETTER_HINTS: dict[str, re.Pattern[str]] = {
    "de": re.compile(r"[ßäöü]"),
    "fr": re.compile(r"[çèêëàâîïôûœ]"),
    "es": re.compile(r"[ñ¿¡]|ción\b"),
    "pt": re.compile(r"[ãõ]|ção\b"),
}
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+")
_ASCII_LOWER_WORD = re.compile(r"[a-z]+")
"""``_WORD`` for lower-cased ASCII text, where it matches the same runs at half the cost.

Most tasks and plans are ASCII; every script pattern and letter hint above is
non-ASCII, so such a text is scored by its words alone.
"""


def detect_language(text: str) -> Language:
    """The language ``text`` is most likely written in; ``ENGLISH`` when unsure."""
    if not _LETTER.search(text):
        return ENGLISH
    ascii_only = text.isascii()  # O(1): no script or letter hint to look for
    if not ascii_only and _ANY_SCRIPT.search(text):
        letters = len(_LETTER.findall(text))
        for pattern, code in _SCRIPTS:
            # A clear share, so an English task quoting one foreign word stays English.
            if len(pattern.findall(text)) * 5 >= letters:
                if code == "ru" and _UKRAINIAN_LETTERS.search(text.lower()):
                    return _BY_CODE["uk"]
                return _BY_CODE[code]
    lowered = text.lower()
    scores = dict.fromkeys(_FUNCTION_WORDS, 0)
    for word in (_ASCII_LOWER_WORD if ascii_only else _WORD).findall(lowered):
        for code in _LANGUAGES_OF_WORD.get(word, ()):
            scores[code] += 1
    if not ascii_only:
        for code, pattern in _LETTER_HINTS.items():
            scores[code] += 2 * len(pattern.findall(lowered))
    best = max(scores, key=lambda code: (scores[code], code == "en"))
    return _BY_CODE[best] if scores[best] > scores["en"] else ENGLISH
