"""The one resolver of this server's address: alerts' links, relative replay targets and the live demo."""

from __future__ import annotations

import pytest

from app.services.replay import replay_base_url
from app.settings import load_settings


@pytest.mark.parametrize(
    ("host", "port", "own"),
    [
        ("0.0.0.0", 8050, "http://127.0.0.1:8050"),
        ("::", 9000, "http://[::1]:9000"),
        ("127.0.0.1", 8123, "http://127.0.0.1:8123"),
        ("::1", 8124, "http://[::1]:8124"),
        ("ops.internal", 80, "http://ops.internal:80"),
    ],
)
def test_own_url_maps_a_wildcard_bind_to_loopback(host: str, port: int, own: str) -> None:
    settings = load_settings(host=host, port=port)
    assert settings.own_url() == own
    assert settings.base_url() == own


def test_public_url_wins_for_links_and_replays_but_not_for_the_local_demo_traffic() -> None:
    settings = load_settings(host="0.0.0.0", port=8050, public_base_url="https://flowwatch.example.com/")
    assert settings.base_url() == "https://flowwatch.example.com"
    assert settings.own_url() == "http://127.0.0.1:8050"
    assert replay_base_url(settings, "http://10.0.0.5:8050/") == "https://flowwatch.example.com"


def test_without_a_public_url_a_replay_resolves_against_the_address_the_request_came_in_on() -> None:
    settings = load_settings(host="0.0.0.0", port=8050)
    assert replay_base_url(settings, "http://10.0.0.5:8050/") == "http://10.0.0.5:8050"
    assert replay_base_url(settings) == "http://127.0.0.1:8050"
