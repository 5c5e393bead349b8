"""The demo's clock and traffic curves.

Every generated time is seconds relative to the anchor (so ``t <= 0``). A history is thus
the same whatever "now" it is seeded at, which is what makes the checksum reproducible.
Seasonality follows a demo calendar in which the anchor is a Thursday at 14:00: weekends
and business hours sit at fixed offsets before the anchor, and "now" is always a busy
weekday afternoon.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

MINUTE = 60
HOUR = 3600
DAY = 86400
WEEK = 7 * DAY

#: Seconds from Monday 00:00 to the anchor in the demo calendar (Thursday 14:00).
ANCHOR_WEEK_SECONDS = 3 * DAY + 14 * HOUR

#: Order intake by local hour: quiet nights, a business-hours plateau, an evening tail.
_HOUR_SHAPE = np.array(
    [
        0.25,
        0.18,
        0.14,
        0.12,
        0.14,
        0.25,
        0.5,
        0.9,
        1.35,
        1.6,
        1.7,
        1.7,
        1.6,
        1.65,
        1.7,
        1.6,
        1.45,
        1.3,
        1.2,
        1.15,
        1.05,
        0.85,
        0.6,
        0.4,
    ]
)
HOUR_WEIGHTS = _HOUR_SHAPE / _HOUR_SHAPE.mean()
#: Monday..Sunday; weekends run at 60% of a weekday.
_WEEKDAY_SHAPE = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.6, 0.6])
WEEKDAY_WEIGHTS = _WEEKDAY_SHAPE / _WEEKDAY_SHAPE.mean()


def weekday_and_hour(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Demo-calendar weekday (0 = Monday) and hour of day of relative times ``t``."""
    local = np.mod(np.asarray(t, dtype=np.float64) + ANCHOR_WEEK_SECONDS, WEEK)
    return (local // DAY).astype(np.int64), ((local % DAY) // HOUR).astype(np.int64)


def intake_weights(t: np.ndarray, weekend: float = 1.0) -> np.ndarray:
    """Relative intake at ``t`` (mean 1 over a week); ``weekend`` scales Saturday/Sunday further."""
    weekday, hour = weekday_and_hour(t)
    weights = WEEKDAY_WEIGHTS[weekday] * HOUR_WEIGHTS[hour]
    return np.where(weekday >= 5, weights * weekend, weights)


def minute_starts(start: float, end: float) -> np.ndarray:
    """Start times of the whole minutes in ``[start, end)``."""
    return np.arange(start, end, MINUTE, dtype=np.float64)


def poisson_times(rng: np.random.Generator, minutes: np.ndarray, rate_per_minute: np.ndarray) -> np.ndarray:
    """Sorted arrival times of a Poisson process with a per-minute piecewise-constant rate."""
    counts = rng.poisson(rate_per_minute)
    times = np.repeat(minutes, counts) + rng.uniform(0.0, MINUTE, int(counts.sum()))
    return np.sort(times)


def lognormal(rng: np.random.Generator, median: float | np.ndarray, sigma: float, n: int) -> np.ndarray:
    """Right-skewed delays: ``median * exp(sigma * N(0, 1))``."""
    return np.asarray(median, dtype=np.float64) * np.exp(sigma * rng.standard_normal(n))


def timestamps(t: np.ndarray, anchor_us: int) -> pa.Array:
    """Relative seconds to naive-UTC microsecond timestamps (NaN becomes null)."""
    t = np.asarray(t, dtype=np.float64)
    missing = np.isnan(t)
    micros = anchor_us + np.round(np.where(missing, 0.0, t) * 1e6).astype(np.int64)
    return pa.array(micros, type=pa.timestamp("us"), mask=missing if missing.any() else None)
