"""Small statistics: pass@k, pass^k and the mean; the one percentile is :mod:`fluxloop._stats`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fluxloop._stats import percentile

__all__ = ["mean", "pass_at_k", "pass_hat_k", "percentile"]


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` runs drawn from ``n`` (``c`` passing) passes
    (the unbiased estimator of Chen et al. 2021)."""
    k = min(k, n)
    if n <= 0 or k <= 0:
        return 0.0
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Probability that all of ``k`` runs drawn from ``n`` (``c`` passing) pass (tau-bench's
    pass^k, a consistency measure)."""
    k = min(k, n)
    if n <= 0 or k <= 0:
        return 0.0
    return math.comb(c, k) / math.comb(n, k)
