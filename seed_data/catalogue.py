"""The SKU catalogue shared by orders, purchase orders and stock updates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seed_data.distributor import SKU_COUNT, SKU_FIRST
from seed_data.ids import numbered


@dataclass(frozen=True)
class Catalogue:
    """SKU labels, unit prices (cents) and a long-tailed popularity."""

    labels: pa.Array
    price_cents: np.ndarray
    popularity: np.ndarray

    @classmethod
    def build(cls, seed: int) -> Catalogue:
        rng = np.random.default_rng([seed, 1])
        prices = np.round(1800 * np.exp(0.8 * rng.standard_normal(SKU_COUNT))).astype(np.int64) + 99
        weights = 1.0 / (rng.permutation(SKU_COUNT) + 8.0)
        return cls(numbered("SKU-", SKU_FIRST + np.arange(SKU_COUNT)), prices, weights / weights.sum())

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` SKU indexes, popular ones more often."""
        return rng.choice(SKU_COUNT, size=n, p=self.popularity)


def money(cents: np.ndarray) -> pa.Array:
    """Cents as JSON decimal text (``1234`` → ``12.34``)."""
    cents = np.asarray(cents, dtype=np.int64)
    units = pc.cast(pa.array(cents // 100), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    return pc.binary_join_element_wise(units, fraction, ".")
