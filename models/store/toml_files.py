"""Reading the configuration files Flowwatch ships as TOML (flows, targets, expectations, the error
catalog, alert rules): one place that turns a missing file or bad TOML into the caller's own error."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_toml(source: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """``source`` parsed; an unreadable file or invalid TOML raises ``error`` naming ``what`` and the path."""
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {what} {source}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {source} is not valid TOML: {exc}") from exc


def validation_problems(exc: ValidationError, whole: str = "") -> str:
    """Every error of a validation as ``field: message; …``; a check on the whole entry is named
    ``whole`` (or stands alone when that is empty), without pydantic's "Value error, " prefix."""
    said = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or whole
        message = str(error["msg"]).removeprefix("Value error, ")
        said.append(f"{where}: {message}" if where else message)
    return "; ".join(said)


def read_toml_entries(
    source: Path,
    what: str,
    key: str,
    model: type[M],
    error: type[Exception],
    *,
    name: Callable[[dict[str, Any]], Any],
    whole: str = "",
) -> list[M]:
    """The ``[[key]]`` tables of a TOML file, each validated as ``model``; anything else at the top level,
    or a bad entry, raises ``error`` naming the file, the entry's position and ``name(entry)`` (an error of
    the whole entry is named ``whole``, see :func:`validation_problems`)."""
    document = read_toml(source, what, error)
    unknown = sorted(set(document) - {key})
    if unknown:
        raise error(f"{what} {source}: unknown key {', '.join(unknown)} (expected [[{key}]])")
    entries = []
    for index, raw in enumerate(document.get(key, [])):
        try:
            entries.append(model.model_validate(raw))
        except ValidationError as exc:
            raise error(
                f"{what} {source}, {key.removesuffix('s')} {index + 1} ({name(raw)}): {validation_problems(exc, whole)}"
            ) from None
    return entries


def repeated(values: Iterable[str]) -> list[str]:
    """The values that occur more than once, sorted (ids that must be unique)."""
    seen: set[str] = set()
    twice: set[str] = set()
    for value in values:
        (twice if value in seen else seen).add(value)
    return sorted(twice)
