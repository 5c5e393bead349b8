"""Simulated downstream systems for the demo: ERP, 3PL, WMS, supplier and storefront endpoints.

Replays in demo mode are real HTTP calls to ``/sim/{kind}/{system}/{resource}``; whether
they succeed is decided here by a switchable fault per system (the "incidents" control).
Like a well-behaved target, a system honours ``Idempotency-Key``: a key it has taken once
is answered as a duplicate and never delivered twice, and it counts both.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from models.enums import FaultMode

SIM_KINDS = frozenset({"erp", "3pl", "wms", "supplier", "storefront"})


#: Default hold per mode: slow answers late but in time; timeout outlasts any replay timeout.
DEFAULT_DELAY = {FaultMode.OK: 0.0, FaultMode.ERROR: 0.0, FaultMode.SLOW: 2.0, FaultMode.TIMEOUT: 30.0}


@dataclass
class Fault:
    """The fault switched on for one system; ``error_rate`` is the share of requests it hits."""

    mode: FaultMode = FaultMode.OK
    error_rate: float = 1.0
    delay_seconds: float = 0.0


@dataclass
class SimCounts:
    """What one system saw: requests, distinct deliveries, duplicates answered, faults injected."""

    received: int = 0
    delivered: int = 0
    duplicates: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Verdict:
    """How to answer one request: the mode that applies to it and how long to hold it."""

    mode: FaultMode
    delay_seconds: float


@dataclass
class SimTargets:
    """Fault switches and idempotency ledgers of every simulated system of this process."""

    seed: int = 0
    _faults: dict[str, Fault] = field(default_factory=dict)
    _counts: dict[str, SimCounts] = field(default_factory=dict)
    _keys: dict[str, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def set_fault(
        self, system: str, mode: FaultMode, *, error_rate: float = 1.0, delay_seconds: float | None = None
    ) -> Fault:
        """Switch ``system`` to ``mode``; ``error_rate`` applies to error and timeout modes."""
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        fault = Fault(mode, error_rate, DEFAULT_DELAY[mode] if delay_seconds is None else delay_seconds)
        with self._lock:
            self._faults[system] = fault
        return fault

    def verdict(self, system: str) -> Verdict:
        """Count the request and decide how it is answered."""
        with self._lock:
            fault = self._faults.get(system, Fault())
            self._counts.setdefault(system, SimCounts()).received += 1
            hit = fault.mode in (FaultMode.ERROR, FaultMode.TIMEOUT) and self._rng.random() < fault.error_rate
            if fault.mode in (FaultMode.ERROR, FaultMode.TIMEOUT) and not hit:
                return Verdict(FaultMode.OK, 0.0)
            if hit:
                self._counts[system].failed += 1
            return Verdict(fault.mode, fault.delay_seconds)

    def deliver(self, system: str, key: str | None) -> bool:
        """Take a message: True for a new delivery, False for a key already delivered (no second delivery)."""
        with self._lock:
            counts = self._counts.setdefault(system, SimCounts())
            seen = self._keys.setdefault(system, set())
            if key is not None and key in seen:
                counts.duplicates += 1
                return False
            if key is not None:
                seen.add(key)
            counts.delivered += 1
            return True

    def delivered_keys(self) -> list[str]:
        """Every idempotency key a simulated system took (what operators' replays delivered)."""
        with self._lock:
            return sorted({key for keys in self._keys.values() for key in keys})

    def modes(self) -> dict[str, str]:
        """The fault mode of every system with one switched on."""
        with self._lock:
            return {system: str(fault.mode) for system, fault in self._faults.items()}

    def state(self) -> list[dict[str, Any]]:
        """Every system with a fault set or traffic seen: its fault and its counts."""
        with self._lock:
            systems = sorted(set(self._faults) | set(self._counts))
            return [
                {"system": s, **asdict(self._faults.get(s, Fault())), **asdict(self._counts.get(s, SimCounts()))}
                for s in systems
            ]
