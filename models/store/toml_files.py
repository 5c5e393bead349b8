"""Reading the configuration files Flowwatch ships as TOML (flows, targets, expectations, the error
catalog, alert rules): one place that turns a missing file or bad TOML into the caller's own error."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(source: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """``source`` parsed; an unreadable file or invalid TOML raises ``error`` naming ``what`` and the path."""
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {what} {source}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {source} is not valid TOML: {exc}") from exc
