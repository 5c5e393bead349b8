"""The incident script: when things break in the demo history, and how badly.

Windows are relative to the anchor (seconds, <= 0) so the story reads the same whenever
the demo is seeded: NorthStar's outage two days ago, the flash sale five days ago, the
Coastal release failures and the Adobe inventory lag happening now. An incident that does
not fit the history (``days`` too small, e.g. < 6 for the flash sale) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seed_data.timeline import DAY, HOUR, MINUTE, intake_weights, minute_starts


@dataclass(frozen=True)
class Window:
    """A half-open interval ``[start, end)`` of relative seconds."""

    start: float
    end: float

    def contains(self, t: np.ndarray) -> np.ndarray:
        """Element-wise membership (NaN is outside)."""
        return (t >= self.start) & (t < self.end)


@dataclass(frozen=True)
class IncidentPlan:
    """Where each incident sits in a history of ``days`` days."""

    days: int
    #: NorthStar (3pl_north) shipment confirmations dead-lettered.
    outage: Window | None
    #: Bulk replays after the outage: (time, share of the dead letters replayed then).
    outage_replays: tuple[tuple[float, float], ...]
    #: Shopify flash sale: order volume x FLASH_MULTIPLIER.
    flash_sale: Window | None
    #: D365 degraded: throughput below the flash-sale intake, latency and timeouts up.
    erp_slowdown: Window | None
    #: Coastal release calls failing, still going on at the anchor.
    coastal_failures: Window
    #: Adobe Commerce inventory publishing lagging, still going on at the anchor.
    adobe_lag: Window
    #: Validation failures placed on purpose (never fixed) so open exceptions span every aging band.
    scripted_validation: tuple[float, ...]
    #: Brightline POs sent at these times that never get an 855.
    scripted_missing_acks: tuple[float, ...]

    @property
    def start(self) -> float:
        """Start of the history."""
        return -self.days * DAY


FLASH_MULTIPLIER = 3.0
#: D365 throughput during the slowdown, as a share of the flash-sale intake.
SLOWDOWN_THROUGHPUT = 0.8
#: ERP call latency multiplier and timeout share during the slowdown.
ERP_SLOW_FACTOR = 10.0
ERP_TIMEOUT_SHARE = 0.05
COASTAL_FAILURE_SHARE = 0.4
#: Coastal releases forced into the failure window so "now" has failures even at small volume.
COASTAL_FORCED = (8 * MINUTE, 21 * MINUTE, 37 * MINUTE)

OUTAGE_ERROR = ("3PL-503", "Upstream 503 Service Unavailable from NorthStar WMS API")
ERP_TIMEOUT_ERROR = ("ERP-TIMEOUT", "POST /data/salesorders timed out after 30 s (Dynamics 365 under load)")
COASTAL_ERROR = (
    "3PL-500",
    "Coastal Fulfilment API returned 500 Internal Server Error on POST /v2/fulfillment-orders",
)
UNMAPPED_SKUS = ("88-1042-BLK", "88-1042-WHT", "JN-2210-5L", "PP-0440-CS")
VALIDATION_SKU = "VAL-SKU"
VALIDATION_ADDR = ("VAL-ADDR", "Ship-to postcode missing")


def _fits(plan_start: float, window_start: float) -> bool:
    """An incident needs a few hours of normal history before it."""
    return window_start >= plan_start + 6 * HOUR


def plan_incidents(days: int) -> IncidentPlan:
    """Place the incidents in a history of ``days`` days ending at the anchor."""
    start = -days * DAY
    outage = Window(-52 * HOUR, -46 * HOUR)
    flash = Window(-5 * DAY - 2 * HOUR, -5 * DAY + 2 * HOUR)
    has_outage, has_flash = _fits(start, outage.start), _fits(start, flash.start)
    return IncidentPlan(
        days=days,
        outage=outage if has_outage else None,
        outage_replays=((outage.end + 90 * MINUTE, 0.55), (outage.end + 26 * HOUR, 0.25)) if has_outage else (),
        flash_sale=flash if has_flash else None,
        erp_slowdown=Window(flash.start + 20 * MINUTE, flash.end + 30 * MINUTE) if has_flash else None,
        coastal_failures=Window(-50 * MINUTE, 0.0),
        adobe_lag=Window(-3 * HOUR, 0.0),
        scripted_validation=tuple(t for t in (-10 * HOUR, -2 * DAY - 5 * HOUR, -4 * DAY - 6 * HOUR) if t > start),
        scripted_missing_acks=tuple(t for t in (-4 * DAY - 3 * HOUR, -DAY - 20 * HOUR) if t > start),
    )


class ErpBacklog:
    """Expected wait of a Shopify order in ``orders.shopify`` while D365 is slow.

    A fluid queue per minute (Lindley recursion, vectorised): intake follows the demand
    curve (x3 in the flash sale), throughput drops below it during the slowdown, and the
    backlog drains once D365 recovers. Scale-free, so it holds for any orders_per_day.
    """

    def __init__(self, plan: IncidentPlan) -> None:
        self._minutes = minute_starts(plan.start, 0.0)
        demand = intake_weights(self._minutes)
        capacity = np.full_like(demand, 2.5 * demand.max())
        if plan.flash_sale is not None and plan.erp_slowdown is not None:
            flash = plan.flash_sale.contains(self._minutes)
            demand = np.where(flash, demand * FLASH_MULTIPLIER, demand)
            slow = plan.erp_slowdown.contains(self._minutes)
            capacity[slow] = SLOWDOWN_THROUGHPUT * demand[flash].mean()
        surplus = np.cumsum(demand - capacity)
        backlog = surplus - np.minimum.accumulate(np.minimum(surplus, 0.0))
        self._wait = backlog / capacity * MINUTE

    def wait(self, t: np.ndarray) -> np.ndarray:
        """Seconds a message arriving at ``t`` waits before D365 takes it."""
        return np.interp(t, self._minutes, self._wait)

    def episode(self, threshold: float = 5 * MINUTE) -> tuple[float, float, float] | None:
        """(first time the wait exceeds ``threshold``, peak wait, time it is back under a minute)."""
        over = np.flatnonzero(self._wait > threshold)
        if over.size == 0:
            return None
        first = int(over[0])
        cleared = np.flatnonzero(self._wait[first:] < MINUTE)
        end = first + int(cleared[0]) if cleared.size else len(self._wait) - 1
        return float(self._minutes[first]), float(self._wait.max()), float(self._minutes[end])
