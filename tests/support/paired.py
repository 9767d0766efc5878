"""Paired-proportion intervals computed independently of mlci, from scipy's binomial intervals."""

from __future__ import annotations

import numpy as np
from scipy import stats


def newcombe_widened(n10: int, n01: int, both: int, neither: int) -> tuple[float, float]:
    """Newcombe (1998) method 10 for a paired difference of proportions, widened to Clopper-Pearson's."""
    n = n10 + n01 + both + neither
    a_c, a_b = (both + n10) / n, (both + n01) / n
    l1, u1 = stats.binomtest(both + n10, n).proportion_ci(0.95, method="wilson")
    l2, u2 = stats.binomtest(both + n01, n).proportion_ci(0.95, method="wilson")
    margins = (both + n10) * (n01 + neither) * (both + n01) * (n10 + neither)
    phi = (both * neither - n10 * n01) / np.sqrt(margins) if margins > 0 else 0.0
    d = (n10 - n01) / n
    low = d - np.sqrt((a_c - l1) ** 2 - 2 * phi * (a_c - l1) * (u2 - a_b) + (u2 - a_b) ** 2)
    high = d + np.sqrt((u1 - a_c) ** 2 - 2 * phi * (u1 - a_c) * (a_b - l2) + (a_b - l2) ** 2)
    exact = stats.binomtest(n10, n10 + n01).proportion_ci(0.95, method="exact")
    scale = (n10 + n01) / n
    return min(low, scale * (2 * exact.low - 1)), max(high, scale * (2 * exact.high - 1))
