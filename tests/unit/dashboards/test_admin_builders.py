"""Admin page builders: masked keys with their state, users, and the audit rendered as plain text."""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboards.components import admin as ad
from tests.dash_tree import text

NOW = datetime(2026, 3, 4, 12, 0)


def _key(name: str, **over: object) -> dict[str, object]:
    row = {"name": name, "scope": "ingest", "prefix": "fw_AbCdE", "last4": "wxyz", "created_by": "ada",
           "created_at": NOW, "expires_at": None, "revoked_at": None, "last_used_at": None,
           "last_used_addr": None}  # fmt: skip
    return {**row, **over}


def test_keys_show_prefix_and_last_four_state_and_last_use() -> None:
    rows = ad.key_rows(
        [
            _key("otel", last_used_at=NOW - timedelta(minutes=5), last_used_addr="10.0.0.4"),
            _key("old", revoked_at=NOW - timedelta(days=1)),
            _key("tmp", scope="read", expires_at=NOW - timedelta(seconds=1)),
        ],
        NOW,
    )
    assert [[text(c) for c in r] for r in rows] == [
        ["otel", "ingest", "fw_AbCdE…wxyz", "active", "—", "2026-03-04 11:55 from 10.0.0.4", "ada"],
        ["old", "ingest", "fw_AbCdE…wxyz", "revoked", "—", "never", "ada"],
        ["tmp", "read", "fw_AbCdE…wxyz", "expired", "2026-03-04 11:59", "never", "ada"],
    ]


def test_users_and_the_audit_render_as_text() -> None:
    users = [{"name": "vera", "role": "viewer", "disabled": True, "created_at": NOW, "updated_at": NOW}]
    assert [text(c) for c in ad.user_rows(users)[0]] == ["vera", "viewer", "disabled", "2026-03-04 12:00",
                                                         "2026-03-04 12:00"]  # fmt: skip
    audit = [{"at": NOW, "kind": "denied", "principal": "vera", "addr": "127.0.0.1",
              "detail": {"callback": "<script>alert(1)</script>", "needs": "act"}}]  # fmt: skip
    (row,) = ad.audit_rows(audit)
    assert row == ["2026-03-04 12:00:00", "denied", "vera", "127.0.0.1",
                   '{"callback": "<script>alert(1)</script>", "needs": "act"}']  # fmt: skip
    assert text(ad.audit_table([])) == "Nothing recorded"
