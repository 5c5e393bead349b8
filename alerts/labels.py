"""Label sets and matchers (Alertmanager's ``name="value"``, ``!=``, ``=~``, ``!~``): what silences,
routes and inhibition rules select alerts by."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Labels = Mapping[str, str]

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"(.*)"|(\S*))\s*$')


class Op(StrEnum):
    """How a matcher compares a label's value."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


class Matcher(BaseModel):
    """One condition on one label; a missing label reads as the empty string (as in Alertmanager)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)
    op: Op = Op.EQ
    value: str = Field("", max_length=1000)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        """Accept ``'kind=~"dead_letter|delivery_failed"'`` as well as ``{name, op, value}``."""
        if isinstance(data, str):
            match = _MATCHER.match(data)
            if match is None:
                raise ValueError(f'{data!r} is not a matcher like flow="shopify-d365-orders" or kind=~"a|b"')
            name, op, quoted, bare = match.groups()
            return {"name": name, "op": op, "value": quoted if quoted is not None else bare}
        return data

    @field_validator("value")
    @classmethod
    def _regex_compiles(cls, value: str, info: Any) -> str:
        if info.data.get("op") in (Op.RE, Op.NRE):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from exc
        return value

    def matches(self, labels: Labels) -> bool:
        """True when ``labels`` satisfy this matcher (regexes are anchored, as in Alertmanager)."""
        actual = labels.get(self.name, "")
        if self.op is Op.EQ:
            return actual == self.value
        if self.op is Op.NE:
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op is Op.RE else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def matches_all(matchers: list[Matcher], labels: Labels) -> bool:
    """True when every matcher holds (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def labels_key(labels: Labels) -> str:
    """A short stable hash of a label set (its series or group identity)."""
    text = json.dumps(dict(sorted(labels.items())), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
