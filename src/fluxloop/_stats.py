"""The one ``percentile``: shared by the runner's summary and the analysis (which never import
each other), hence a top-level private module like :mod:`fluxloop._files`."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile"]


def percentile(values: Sequence[float], q: float, *, is_sorted: bool = False) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100) of ``values``.

    ``None`` for no values: there is no latency of zero runs, and a 0 would read as "instant"
    (a caller that must write a number, like the runner's documented ``summary.json``, says so
    itself). ``is_sorted`` skips the sort for an already sorted sequence.
    """
    if not values:
        return None
    data = values if is_sorted else sorted(values)
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)
