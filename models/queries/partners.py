"""EDI trading partners kept in the database (added and removed with `flowwatch partners`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.store.tables import edi_partners


def list_partners(conn: Connection) -> dict[str, str]:
    """ISA id → system id of every stored partner."""
    rows = conn.execute(sa.select(edi_partners.c.partner_id, edi_partners.c.system_id).order_by("partner_id"))
    return {partner: system for partner, system in rows}


def add_partners(conn: Connection, partners: Mapping[str, str], *, now: datetime) -> None:
    """Add (or re-point) partners; ids are stored upper case, as X12 compares them."""
    for partner, system in partners.items():
        key = partner.strip().upper()
        conn.execute(edi_partners.delete().where(edi_partners.c.partner_id == key))
        conn.execute(edi_partners.insert().values(partner_id=key, system_id=system.strip(), added_at=now))


def remove_partner(conn: Connection, partner: str) -> bool:
    """Remove one partner; False when it was not there."""
    result = conn.execute(edi_partners.delete().where(edi_partners.c.partner_id == partner.strip().upper()))
    return bool(result.rowcount)
