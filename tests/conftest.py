"""Suite-wide defaults: auth off (loopback development mode) unless a test turns it on.

Most tests exercise flows, ingest and replay; they act as the local developer. The access tests
(tests/integration/test_access.py, tests/browser/test_login.py) build their settings with auth=True.
"""

from __future__ import annotations

import os

os.environ.setdefault("FLOWWATCH_AUTH", "off")
