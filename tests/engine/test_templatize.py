"""The templatize invariant: filling ``variable_values`` back gives the input exactly."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from promptmill.engine.checks import VARIABLE_NAME, placeholders
from promptmill.engine.templatize import apply_variables, fill_variables

texts = st.lists(
    st.text(alphabet=st.sampled_from(list("ab c{}_\nXYZ.é")), max_size=60), min_size=1, max_size=3
)


@settings(max_examples=300, deadline=None)
@given(texts, st.data())
def test_round_trip_is_exact_for_any_proposals(source: list[str], data: st.DataObject) -> None:
    joined = "".join(source)
    spans = []
    for _ in range(data.draw(st.integers(0, 4))):
        if joined:
            start = data.draw(st.integers(0, len(joined) - 1))
            end = data.draw(st.integers(start + 1, len(joined)))
            spans.append(joined[start:end])
    names = data.draw(st.lists(st.text(max_size=12), min_size=len(spans), max_size=len(spans)))
    noise = data.draw(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=2))
    templated, values = apply_variables(source, [*zip(names, spans, strict=True), *noise])
    assert [fill_variables(t, values) for t in templated] == source
    for name, value in values.items():
        assert VARIABLE_NAME.match(name)
        assert value.strip()
        assert any(name in placeholders(t) for t in templated)


@given(st.text(alphabet="abc {}", max_size=30))
def test_existing_placeholders_are_left_alone(text: str) -> None:
    assume("{{" not in text and "}}" not in text)
    source = [f"Hi {{{{food}}}} {text}", "system {{food}}"]
    templated, values = apply_variables(source, [("food", "food"), ("FOOD", "Hi")])
    # "food" occurs only inside the existing placeholder, so it is no variable; "Hi" is one,
    # named FOOD (distinct from the lowercase placeholder already there).
    assert values == {"FOOD": "Hi"}
    assert templated == [f"{{{{FOOD}}}} {{{{food}}}} {text}", "system {{food}}"]
    assert [fill_variables(t, values) for t in templated] == source


def test_translation_example_from_the_spec() -> None:
    templated, values = apply_variables(
        ["Translate hello to German", "You are a professional English to German translator"],
        [("word to translate", "hello"), ("TARGET_LANGUAGE", "German")],
    )
    assert templated == [
        "Translate {{WORD_TO_TRANSLATE}} to {{TARGET_LANGUAGE}}",
        "You are a professional English to {{TARGET_LANGUAGE}} translator",
    ]
    assert values == {"WORD_TO_TRANSLATE": "hello", "TARGET_LANGUAGE": "German"}


def test_values_not_in_the_prompt_and_partial_words_are_dropped() -> None:
    templated, values = apply_variables(
        ["Annual report for Ann"], [("NAME", "Ann"), ("MISSING", "Bob"), ("EMPTY", "  ")]
    )
    assert templated == ["Annual report for {{NAME}}"]
    assert values == {"NAME": "Ann"}
