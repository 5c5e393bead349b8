"""Business-key aliases: a source system's own id for an order, resolved to the order's key.

Some vendor messages name their order only by the vendor's internal id (a Shopify refund
carries the numeric ``order_id``, not the order number people quote). Adapters key such an
event with a *reference* ``@<namespace>:<id>``; the writer registers aliases from the events
that carry both (a Shopify ``orders/create`` has the number and the id) and rewrites
references it can resolve to the order's key, in the same transaction as the append, so the
event lands on the order's timeline. A reference that arrives before its order stays keyed
by the reference. Aliases live in the database, so they survive restarts.
"""

from __future__ import annotations

#: (source, event_type) → (alias namespace, JSON path of the source's own id in the payload).
ALIAS_RULES: dict[tuple[str, str], tuple[str, str]] = {
    ("shopify", "order.created"): ("shopify:order", "$.order_id"),
}
#: How an event refers to an order by alias: ``@shopify:order:820982911946154508``.
REFERENCE = "@"


def reference(namespace: str, source_id: object) -> str:
    """The correlation id of an event that knows its order only by the source's own id."""
    return f"{REFERENCE}{namespace}:{source_id}"


def fold_aliases(raw, source: str, *, resolve: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Register the aliases the batch ``source`` declares, then resolve its references (DuckDB);
    ``resolve=False`` for a batch that holds no reference (it may be a read-only Arrow relation)."""
    for (origin, event_type), (namespace, path) in ALIAS_RULES.items():
        raw.execute(
            f"""
            INSERT INTO key_aliases (alias, correlation_id)
            SELECT DISTINCT ? || ':' || json_extract_string(payload, ?), correlation_id FROM {source}
            WHERE source = ? AND event_type = ? AND json_extract_string(payload, ?) IS NOT NULL
            ON CONFLICT DO NOTHING
            """,
            [namespace, path, origin, event_type, path],
        )
    if not resolve:
        return
    raw.execute(
        f"""
        UPDATE {source} SET correlation_id = a.correlation_id
        FROM key_aliases a
        WHERE starts_with({source}.correlation_id, ?) AND a.alias = substr({source}.correlation_id, 2)
        """,
        [REFERENCE],
    )


def fold_aliases_pg(cur, source: str) -> None:  # type: ignore[no-untyped-def]
    """:func:`fold_aliases` on PostgreSQL (``cur`` a psycopg cursor; the same two statements)."""
    for (origin, event_type), (namespace, path) in ALIAS_RULES.items():
        key = path.removeprefix("$.")
        cur.execute(
            f"""
            INSERT INTO key_aliases (alias, correlation_id)
            SELECT DISTINCT %s || ':' || fw_json_text(payload, %s), correlation_id FROM {source}
            WHERE source = %s AND event_type = %s AND fw_json_text(payload, %s) IS NOT NULL
            ON CONFLICT DO NOTHING
            """,
            [namespace, key, origin, event_type, key],
        )
    cur.execute(
        f"""
        UPDATE {source} SET correlation_id = a.correlation_id
        FROM key_aliases a
        WHERE starts_with({source}.correlation_id, %s) AND a.alias = substr({source}.correlation_id, 2)
        """,
        [REFERENCE],
    )
