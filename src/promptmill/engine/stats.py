"""Paired significance tests for comparing two prompt variants on the same cases.

Pure Python (no numpy or scipy at run time) and exact where it is cheap: counts are
integers and distributions are built by dynamic programming, so p-values agree with
``scipy.stats`` to rounding. Both tests are two-sided. When there is nothing to test
(no discordant pairs, all differences zero) the p-value is 1.0: no evidence of a
difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# scipy.stats.wilcoxon's default ``method="auto"``: the exact null distribution up to this
# many pairs when there are no ties and no zero differences, ...
WILCOXON_EXACT_MAX_N = 50
# ... with ties or zeros, the exact permutation distribution up to this many pairs
# (2**13 sign assignments), and the normal approximation beyond either limit.
WILCOXON_PERMUTATION_MAX_N = 13


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts ``b`` and ``c``.

    Under the null hypothesis each discordant pair goes either way with probability
    1/2, so this is the two-sided exact binomial test of ``min(b, c)`` successes in
    ``b + c`` trials (``scipy.stats.binomtest(b, b + c).pvalue``).
    """
    if b < 0 or c < 0:
        raise ValueError("discordant pair counts must be non-negative")
    n = b + c
    if b == c:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    p: float = 2 * tail / 2**n
    return min(1.0, p)


def wilcoxon_signed_rank(
    x: Sequence[float], y: Sequence[float], *, correction: bool = False
) -> float:
    """Two-sided Wilcoxon signed-rank p-value for paired samples, as ``scipy.stats.wilcoxon``
    computes it with its defaults.

    Zero differences are dropped (``zero_method="wilcox"``) and tied absolute differences
    get average ranks. Without ties or zeros and with at most 50 pairs the exact null
    distribution is used; with ties or zeros and at most 13 pairs, the exact permutation
    distribution of the tied ranks; otherwise the normal approximation with the tie
    correction of the variance, and a continuity correction when ``correction`` is true
    (scipy's default is false).
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length ({len(x)} != {len(y)})")
    differences = [float(a) - float(b) for a, b in zip(x, y, strict=True)]
    if any(math.isnan(d) for d in differences):
        raise ValueError("x and y must not contain NaN")
    nonzero = [d for d in differences if d != 0]
    if not nonzero:
        return 1.0
    doubled_ranks, tie_sizes = _doubled_average_ranks([abs(d) for d in nonzero])
    doubled_r_plus = sum(r for r, d in zip(doubled_ranks, nonzero, strict=True) if d > 0)
    has_ties = any(size > 1 for size in tie_sizes)
    has_zeros = len(nonzero) < len(differences)
    if not has_ties and not has_zeros and len(differences) <= WILCOXON_EXACT_MAX_N:
        return _exact_p(doubled_ranks, doubled_r_plus)
    if len(differences) <= WILCOXON_PERMUTATION_MAX_N:
        return _exact_p(doubled_ranks, doubled_r_plus)
    return _normal_p(len(nonzero), doubled_r_plus / 2, tie_sizes, correction)


def _doubled_average_ranks(values: list[float]) -> tuple[list[int], list[int]]:
    """Twice the average ranks (integers even for ties) and the size of each tie group."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0] * len(values)
    sizes: list[int] = []
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = start + end + 2  # 2 * mean of ranks start+1 .. end+1
        sizes.append(end - start + 1)
        start = end + 1
    return ranks, sizes


def _exact_p(doubled_ranks: list[int], doubled_r_plus: int) -> float:
    """Two-sided p-value of the rank sum over all 2**n sign assignments (exact, integer)."""
    total = sum(doubled_ranks)
    counts = [0] * (total + 1)  # counts[s]: sign assignments whose positive ranks sum to s
    counts[0] = 1
    for rank in doubled_ranks:
        for s in range(total, rank - 1, -1):
            counts[s] += counts[s - rank]
    lower = sum(counts[: doubled_r_plus + 1])
    upper = sum(counts[doubled_r_plus:])
    p: float = 2 * min(lower, upper) / 2 ** len(doubled_ranks)
    return min(1.0, p)


def _normal_p(n: int, r_plus: float, tie_sizes: list[int], correction: bool) -> float:
    mean = n * (n + 1) / 4
    tie_term = sum(t**3 - t for t in tie_sizes)
    sd = math.sqrt((n * (n + 1) * (2 * n + 1) - tie_term / 2) / 24)
    if sd == 0:
        return 1.0
    z = (r_plus - mean) / sd
    if correction:
        z -= math.copysign(0.5, z) / sd if z != 0 else 0.0
    return min(1.0, math.erfc(abs(z) / math.sqrt(2)))
