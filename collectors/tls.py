"""One TLS client context per process, for every outbound HTTP client (pollers, replays, Slack).

httpx builds a new ``ssl.SSLContext`` for each client and, when ``SSL_CERT_FILE`` is set (common in
containers), parses that whole CA file each time: ~50 ms of CPU per client on a 2-core machine,
paid on every poll and every single replay. The context is the same one httpx would build (it
honours ``SSL_CERT_FILE``/``SSL_CERT_DIR``, else certifi), made once; a context is safe to share
between clients and threads once built.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's client TLS context, verifying servers as httpx does by default."""
    return httpx.create_ssl_context()
