"""The demo distributor (Northwind Supply Co.) and its deterministic history generator."""

from seed_data.seeder import SeedReport, seed_demo

__all__ = ["SeedReport", "seed_demo"]
