"""Confidence intervals for the aggregated values (95 % by default).

All functions take sufficient statistics (sums, counts) so they can be computed from the small
aggregated result instead of the raw rows, on any engine.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054

#: Below this many observations a value is flagged ``small_sample``.
SMALL_SAMPLE = 30


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion (Wilson 1927); ``(None, None)`` when n = 0."""
    if n <= 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def nps_interval(promoters: float, detractors: float, n: float, z: float = Z95) -> tuple[float | None, float | None]:
    """Analytical interval for NPS = 100·(p − d): Var = (p + d − (p − d)²) / n (multinomial)."""
    if n <= 0:
        return None, None
    p, d = promoters / n, detractors / n
    var = max(0.0, p + d - (p - d) ** 2) / n
    half = 100 * z * math.sqrt(var)
    nps = 100 * (p - d)
    return max(-100.0, nps - half), min(100.0, nps + half)


def mean_interval(total: float, total_sq: float, n: float, z: float = Z95) -> tuple[float | None, float | None]:
    """Normal-approximation interval for a mean from Σx, Σx² and n (n ≥ 2)."""
    if n < 2:
        return None, None
    mean = total / n
    var = max(0.0, (total_sq - n * mean * mean) / (n - 1))
    half = z * math.sqrt(var / n)
    return mean - half, mean + half


def ratio_interval(
    sum_y: float, sum_x: float, sum_yy: float, sum_xx: float, sum_xy: float, n: float, z: float = Z95
) -> tuple[float | None, float | None]:
    """Delta-method interval for a ratio of sums R = Σy / Σx over n independent units.

    Var(R) ≈ Σ(yᵢ − R·xᵢ)² / (n (n − 1) x̄²), with the sum of squares expanded into Σy², Σxy, Σx².
    """
    if n < 2 or sum_x == 0:
        return None, None
    r = sum_y / sum_x
    residual = max(0.0, sum_yy - 2 * r * sum_xy + r * r * sum_xx)
    x_bar = sum_x / n
    var = residual / (n * (n - 1) * x_bar * x_bar)
    half = z * math.sqrt(var)
    return r - half, r + half
