"""One client TLS context per process, built as httpx would build it, whatever the environment."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import certifi
import httpx
import pytest

from collectors.tls import tls_context


@pytest.fixture()
def fresh_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """``tls_context`` rebuilt under the environment the test sets, and forgotten after it."""
    tls_context.cache_clear()
    yield monkeypatch
    tls_context.cache_clear()


def test_a_ca_file_in_the_environment_is_read_once_and_verifies_servers(fresh_context: pytest.MonkeyPatch) -> None:
    fresh_context.setenv("SSL_CERT_FILE", certifi.where())
    fresh_context.delenv("SSL_CERT_DIR", raising=False)
    first = tls_context()
    assert all(tls_context() is first for _ in range(50))
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    with open(certifi.where()) as bundle:
        certificates = bundle.read().count("BEGIN CERTIFICATE")
    assert certificates > 100 and first.cert_store_stats()["x509_ca"] == certificates
    # a client given the context uses it rather than building its own
    with httpx.Client(verify=first) as client:
        assert client._transport._pool._ssl_context is first  # type: ignore[attr-defined]


def test_without_a_ca_file_it_is_httpxs_default(fresh_context: pytest.MonkeyPatch) -> None:
    fresh_context.delenv("SSL_CERT_FILE", raising=False)
    fresh_context.delenv("SSL_CERT_DIR", raising=False)
    made = tls_context()
    default = httpx.create_ssl_context()
    assert made.verify_mode == default.verify_mode == ssl.CERT_REQUIRED
    assert made.cert_store_stats() == default.cert_store_stats()
