"""Bulk-run pacing and the content type a replayed payload is sent with."""

from __future__ import annotations

from app.services.delivery import Pacer, content_type_of


def test_pacer_spaces_starts_by_the_rate() -> None:
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        clock[0] += seconds

    pacer = Pacer(4.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    clock[0] += 1.0  # a slow item: no catching up in a burst afterwards
    pacer.wait()
    pacer.wait()
    assert slept == [0.25, 0.25, 0.25]


def test_content_type_of_stored_payloads() -> None:
    assert content_type_of('{"a": 1}') == "application/json"
    assert content_type_of("ISA*00*          *00*") == "application/edi-x12"
    assert content_type_of("hello") == "text/plain; charset=utf-8"
