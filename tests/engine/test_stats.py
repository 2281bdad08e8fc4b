"""The paired tests agree with scipy.stats (the reference) on fixed data and as properties."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptmill.engine.stats import mcnemar_exact, wilcoxon_signed_rank

scipy_stats = pytest.importorskip("scipy.stats")

REL = 1e-9


def scipy_wilcoxon(x: list[float], y: list[float], **kwargs: object) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(scipy_stats.wilcoxon(x, y, **kwargs).pvalue)


@pytest.mark.parametrize(("b", "c"), [(0, 1), (1, 0), (3, 9), (9, 3), (10, 10), (0, 25), (7, 8)])
def test_mcnemar_equals_scipy_binomtest(b: int, c: int) -> None:
    expected = scipy_stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=REL)


def test_mcnemar_of_large_counts_equals_scipy() -> None:
    expected = scipy_stats.binomtest(430, 1000, 0.5).pvalue
    assert mcnemar_exact(430, 570) == pytest.approx(expected, rel=REL)


def test_mcnemar_without_discordant_pairs_is_one() -> None:
    assert mcnemar_exact(0, 0) == 1.0


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


# Fixed datasets: each exercises one branch of scipy's default ``method="auto"``.
SMALL_NO_TIES = (
    [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30],
    [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29],
)
SMALL_WITH_TIES = ([4, 5, 3, 5, 2, 4, 5, 3, 4, 1], [3, 3, 3, 4, 4, 2, 5, 1, 2, 2])
SMALL_WITH_ZEROS = ([0.5, 0.7, 0.9, 0.2, 0.4, 0.6], [0.5, 0.1, 0.9, 0.5, 0.1, 0.3])
TIES_N20 = (
    [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1],
    [0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1],
)
EXACT_N40 = (
    [math.sin(i * 1.7) + 0.15 for i in range(40)],
    [math.cos(i * 0.9) * 0.8 for i in range(40)],
)
RUBRIC_N60 = (
    [(i * 7) % 5 + 1 for i in range(60)],
    [(i * 3) % 5 + 1 for i in range(60)],
)
CONTINUOUS_N80 = (
    [math.sin(i) * 2 + 0.3 for i in range(80)],
    [math.cos(i * 1.3) * 2 for i in range(80)],
)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        SMALL_NO_TIES,
        SMALL_WITH_TIES,
        SMALL_WITH_ZEROS,
        TIES_N20,
        EXACT_N40,
        RUBRIC_N60,
        CONTINUOUS_N80,
    ],
    ids=["exact-n9", "ties-n10", "zeros-n6", "ties-n20", "exact-n40", "rubric-n60", "normal-n80"],
)
def test_wilcoxon_equals_scipy_defaults(x: list[float], y: list[float]) -> None:
    assert wilcoxon_signed_rank(x, y) == pytest.approx(scipy_wilcoxon(x, y), rel=REL)


@pytest.mark.parametrize(("x", "y"), [TIES_N20, RUBRIC_N60, CONTINUOUS_N80])
def test_wilcoxon_continuity_correction_equals_scipy(x: list[float], y: list[float]) -> None:
    expected = scipy_wilcoxon(x, y, correction=True)
    assert wilcoxon_signed_rank(x, y, correction=True) == pytest.approx(expected, rel=REL)


def test_wilcoxon_of_identical_samples_is_one() -> None:
    assert wilcoxon_signed_rank([1, 2, 3], [1, 2, 3]) == 1.0


def test_wilcoxon_rejects_unpaired_samples() -> None:
    with pytest.raises(ValueError):
        wilcoxon_signed_rank([1, 2], [1])


small_scores = st.lists(
    st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=30
).filter(lambda pairs: any(a != b for a, b in pairs))
continuous = st.lists(
    st.tuples(
        st.floats(-100, 100, allow_nan=False, allow_subnormal=False),
        st.floats(-100, 100, allow_nan=False, allow_subnormal=False),
    ),
    min_size=1,
    max_size=60,
).filter(lambda pairs: any(a != b for a, b in pairs))


@settings(max_examples=60, deadline=None)
@given(small_scores)
def test_wilcoxon_on_tied_scores_matches_scipy(pairs: list[tuple[int, int]]) -> None:
    x, y = [float(a) for a, _ in pairs], [float(b) for _, b in pairs]
    assert wilcoxon_signed_rank(x, y) == pytest.approx(scipy_wilcoxon(x, y), rel=REL)


@settings(max_examples=60, deadline=None)
@given(continuous)
def test_wilcoxon_on_continuous_data_matches_scipy(pairs: list[tuple[float, float]]) -> None:
    x, y = [a for a, _ in pairs], [b for _, b in pairs]
    assert wilcoxon_signed_rank(x, y) == pytest.approx(scipy_wilcoxon(x, y), rel=REL)


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=40))
def test_wilcoxon_is_a_probability_and_symmetric_in_its_arguments(
    pairs: list[tuple[int, int]],
) -> None:
    x, y = [a for a, _ in pairs], [b for _, b in pairs]
    p = wilcoxon_signed_rank(x, y)
    assert 0.0 <= p <= 1.0
    assert wilcoxon_signed_rank(y, x) == pytest.approx(p, rel=1e-12)


@given(st.integers(0, 300), st.integers(0, 300))
def test_mcnemar_is_a_probability_and_symmetric(b: int, c: int) -> None:
    p = mcnemar_exact(b, c)
    assert 0.0 <= p <= 1.0
    assert mcnemar_exact(c, b) == p


@given(st.integers(0, 60), st.integers(1, 60))
def test_mcnemar_p_falls_as_the_split_grows_more_lopsided(low: int, extra: int) -> None:
    assert mcnemar_exact(low, low + extra + 1) <= mcnemar_exact(low, low + extra)
