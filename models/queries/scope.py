"""The global filter — one channel, ERP or fulfiller (WMS / 3PL) — as bound SQL predicates.

Orders are in scope when their ``order_facts`` columns match. A flow is in scope when neither of
its systems is *another* system of a filtered kind: with ``channel=shopify`` the Adobe storefront's
flows leave, the ERP → WMS flows that carry Shopify's orders stay. An exception is in scope when
its flow and its system are. Values are always bound parameters, never SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.engine import Connection

from models.queries.common import read_frame

#: The filter's dimensions and the kinds of system each one picks from.
SCOPE_KINDS: dict[str, tuple[str, ...]] = {
    "channel": ("storefront",),
    "erp": ("erp",),
    "fulfiller": ("wms", "3pl"),
}


@dataclass(frozen=True)
class Scope:
    """A system id per dimension, or None for all of them."""

    channel: str | None = None
    erp: str | None = None
    fulfiller: str | None = None

    def chosen(self) -> dict[str, str]:
        """The dimensions that filter, with their system."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    @property
    def everything(self) -> bool:
        """True when nothing filters (every predicate is TRUE)."""
        return not self.chosen()

    def params(self) -> dict[str, str]:
        """The bound parameters the predicates below name."""
        return {f"scope_{dim}": value for dim, value in self.chosen().items()}


ALL = Scope()


def _excluded_systems(scope: Scope) -> str:
    """A subquery of the systems the scope leaves out: the other systems of each filtered kind."""
    ors = " OR ".join(
        f"(kind IN ({', '.join(repr(k) for k in SCOPE_KINDS[dim])}) AND system_id <> :scope_{dim})"
        for dim in scope.chosen()
    )
    return f"SELECT system_id FROM systems WHERE {ors}"


def order_in_scope(scope: Scope, alias: str = "o") -> str:
    """A predicate over ``order_facts`` (alias ``alias``): the order is the scope's."""
    prefix = f"{alias}." if alias else ""
    return " AND ".join(f"{prefix}{dim} = :scope_{dim}" for dim in scope.chosen()) or "TRUE"


def system_in_scope(scope: Scope, column: str) -> str:
    """A predicate: the system in ``column`` (NULL passes) is not one the scope leaves out."""
    if scope.everything:
        return "TRUE"
    return f"({column} IS NULL OR {column} NOT IN ({_excluded_systems(scope)}))"


def flow_in_scope(scope: Scope, alias: str = "f") -> str:
    """A predicate over ``flows`` (alias ``alias``): neither of the flow's systems is left out."""
    if scope.everything:
        return "TRUE"
    return (
        f"({system_in_scope(scope, f'{alias}.source_system')} AND {system_in_scope(scope, f'{alias}.target_system')})"
    )


def flow_id_in_scope(scope: Scope, column: str) -> str:
    """A predicate: the flow id in ``column`` (NULL passes) names a flow in scope."""
    if scope.everything:
        return "TRUE"
    return f"({column} IS NULL OR {column} IN (SELECT sf.flow_id FROM flows sf WHERE {flow_in_scope(scope, 'sf')}))"


def exception_in_scope(scope: Scope, alias: str = "") -> str:
    """A predicate over ``exceptions``: its flow and its system are in scope."""
    prefix = f"{alias}." if alias else ""
    if scope.everything:
        return "TRUE"
    return f"({flow_id_in_scope(scope, prefix + 'flow_id')} AND {system_in_scope(scope, prefix + 'system_id')})"


def scope_systems(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """The systems each dimension can be filtered to (``system_id``, ``name``), by dimension."""
    frame = read_frame(conn, "SELECT system_id, name, kind FROM systems ORDER BY name, system_id")
    return {
        dim: [{"system_id": r.system_id, "name": r.name} for r in frame.itertuples() if r.kind in kinds]
        for dim, kinds in SCOPE_KINDS.items()
    }
