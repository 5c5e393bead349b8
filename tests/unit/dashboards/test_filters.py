"""The global filters' URL parsing and the links that carry them."""

from __future__ import annotations

import pytest

from dashboards.components import filters as gf
from models.queries.scope import Scope

ESTATE = [
    {"system_id": "shopify", "kind": "storefront"},
    {"system_id": "adobe", "kind": "storefront"},
    {"system_id": "d365", "kind": "erp"},
    {"system_id": "wms", "kind": "wms"},
    {"system_id": "3pl_north", "kind": "3pl"},
    {"system_id": "sup_acme", "kind": "supplier"},
]
KNOWN = gf.known_systems(ESTATE)


def test_known_systems_by_dimension() -> None:
    assert gf.known_systems(ESTATE) == {
        "channel": {"shopify", "adobe"},
        "erp": {"d365"},
        "fulfiller": {"wms", "3pl_north"},
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, gf.GlobalFilters()),
        ({"range": "7d", "channel": "shopify", "erp": "d365", "fulfiller": "3pl_north"},
         gf.GlobalFilters("7d", Scope("shopify", "d365", "3pl_north"))),
        ({"range": "2d"}, gf.GlobalFilters()),  # not a range
        ({"channel": "d365"}, gf.GlobalFilters()),  # an ERP is not a channel
        ({"fulfiller": "sup_acme"}, gf.GlobalFilters()),  # a supplier ships no orders
        ({"channel": "nobody", "erp": " d365 "}, gf.GlobalFilters(scope=Scope(erp="d365"))),
        ({"channel": ["shopify"], "range": None}, gf.GlobalFilters()),  # not text
        ({"channel": ""}, gf.GlobalFilters()),
    ],
)  # fmt: skip
def test_parse_filters_falls_back_to_all(query: dict[str, object], expected: gf.GlobalFilters) -> None:
    assert gf.parse_filters(query, KNOWN) == expected


def test_parse_search() -> None:
    assert gf.parse_search("?channel=adobe&range=30d&q=ORD-1&erp=", KNOWN) == gf.GlobalFilters("30d", Scope("adobe"))
    assert gf.parse_search(None, KNOWN) == gf.GlobalFilters()


@pytest.mark.parametrize(
    ("search", "carried"),
    [
        ("", ""),
        (None, ""),
        ("?range=7d&channel=shopify&flow=acc&id=12", "?range=7d&channel=shopify"),
        ("?period=30d&group=erp&fulfiller=wms", "?range=30d&fulfiller=wms"),  # the scorecard's period
        ("?period=30d&range=6h", "?range=6h"),
        ("?status=any&q=late", ""),
    ],
)
def test_links_carry_the_range_and_filters_only(search: str | None, carried: str) -> None:
    assert gf.carried_search(search) == carried


def test_dropdown_options_and_what_does_not_apply() -> None:
    systems = {"channel": [{"system_id": "shopify", "name": "Shopify"}], "erp": [], "fulfiller": []}
    assert gf.dropdown_options(systems) == {
        "channel": [{"label": "Shopify", "value": "shopify"}], "erp": [], "fulfiller": []
    }  # fmt: skip
    assert gf.not_applicable({"filters": ("channel", "erp", "fulfiller")}) == {}
    assert gf.not_applicable({"filters": ("channel",), "filters_note": "why"}) == {"erp": "why", "fulfiller": "why"}
    assert set(gf.not_applicable({})) == {"channel", "erp", "fulfiller"}
