"""Fingerprints: repeats of one problem must land on one exception.

An error message names the order, SKU, PO, tracking number and time it happened to; left
in, every repeat would look new. An ordered table of named rules replaces those volatile
tokens with placeholders (after getsentry/sentry's grouping parameterization), so
``SKU 88-1042-BLK not mapped`` and ``SKU JN-2210-5L not mapped`` share one error class.
Order matters: specific shapes (UUIDs, timestamps, business ids) go before the generic
hex and number rules that would otherwise eat their parts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """Replace every match of ``pattern`` with ``replacement``."""

    name: str
    pattern: re.Pattern[str]
    replacement: str


def _rule(name: str, pattern: str, replacement: str, flags: int = re.IGNORECASE) -> Rule:
    return Rule(name, re.compile(pattern, flags), replacement)


RULES: tuple[Rule, ...] = (
    _rule("uuid", r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>"),
    _rule(
        "timestamp",
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
        "<ts>",
    ),
    _rule("clock", r"\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\b", "<ts>"),
    _rule("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", "<email>"),
    _rule("ip", r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
    _rule("stock_key", r"\b[A-Z0-9][A-Z0-9-]*@[A-Z0-9_-]+\b", "<sku>@<location>"),
    _rule("sku", r"\bSKU(?:[ :#]+|-)[A-Z0-9][A-Z0-9-]*", "SKU <sku>"),
    _rule("po", r"\bPO[- #]?\d{3,}\b", "<po>"),
    _rule("asn", r"\bASN[- #]?\d{3,}\b", "<asn>"),
    _rule("order", r"\b(?:SHP|ADB|B2B|SO|ORD|ORDER)-\d{3,}\b|#\d{3,}\b", "<order>"),
    _rule("document", r"\b(?:INV|RMA|SH|ADJ)-[0-9A-F]{3,}\b", "<doc>"),
    _rule("tracking", r"\b1Z[0-9A-Z]{16}\b|\b\d{20,34}\b", "<tracking>"),
    _rule("prefixed_id", r"\b(?:evt|msg|req|id)_[0-9a-z]+\b", "<id>"),
    _rule("hex", r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b", "<hex>"),
    # Integers and decimals, but not three-digit HTTP statuses: 500 and 503 are different errors.
    _rule("number", r"(?<![\w.])(?![1-5]\d\d\b)\d+(?:\.\d+)?(?![\w.])", "<n>"),
)

#: Keys longer than this (normalised messages) are hashed into the fingerprint.
MAX_KEY = 64


def normalise(message: str) -> str:
    """``message`` with volatile tokens replaced by placeholders and whitespace collapsed."""
    text = message
    for rule in RULES:
        text = rule.pattern.sub(rule.replacement, text)
    return " ".join(text.split())


def error_class(code: str | None, message: str | None) -> str:
    """The class of an error: the source's error code when it gave one, else its normalised message."""
    if code and code.strip():
        return code.strip()
    if message and message.strip():
        return normalise(message)[:200]
    return "unknown"


def fingerprint(kind: str, flow_id: str | None, key: str) -> str:
    """``{kind}:{flow}:{key}``, the identity of an exception (long keys become a short hash)."""
    if len(key) > MAX_KEY:
        key = "h" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{kind}:{flow_id or '-'}:{key}"
