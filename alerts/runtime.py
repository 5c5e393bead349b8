"""Alerting in one process: the configuration, the channels, and the three jobs' entry points
(evaluate, notify, digests) plus test notifications. Built once per process from the settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine

from alerts import digest as digests
from alerts.channels import Channel, build_channel
from alerts.channels.base import Message
from alerts.config import AlertsConfig, RuleConfig, load_rules_file
from alerts.evaluate import EvaluationReport, evaluate, write
from alerts.notify import Notifier, Outcome, Transactional
from alerts.stages import channel_retry_at
from models.queries import alerts as store
from models.store.schema import serialize_config_sync


class AlertRuntime:
    """The process's alerting: what the jobs, the API and the page call."""

    def __init__(
        self,
        config: AlertsConfig,
        *,
        engine: Engine,
        writer: Transactional,
        base_url: str,
        channels: dict[str, Channel] | None = None,
        cause: Callable[[Connection, int], str | None] | None = None,
    ) -> None:
        self.config, self.engine, self.writer, self.base_url = config, engine, writer, base_url
        self.channels = channels if channels is not None else {c.name: build_channel(c) for c in config.channels}
        self.notifier = Notifier(config, self.channels, engine=engine, writer=writer, base_url=base_url, cause=cause)

    def configured_rules(self) -> list[RuleConfig]:
        """The rules of the rules file and of ``[[alerts.rules]]`` (the inline ones win on the same id)."""
        rules = {r.id: r for r in load_rules_file(self.config.rules_file)}
        rules.update({r.id: r for r in self.config.rules})
        return list(rules.values())

    def sync_rules(self, now: datetime) -> dict[str, int]:
        """Bring the configured rules into the database (admin edits kept)."""
        definitions = [r.definition() for r in self.configured_rules()]
        with self.writer.transaction() as conn:
            serialize_config_sync(conn)
            return store.sync_config_rules(conn, definitions, now=now)

    def evaluate(self, now: datetime) -> EvaluationReport:
        """One evaluation: read without a lock, write the states in one short transaction."""
        with self.engine.connect() as conn:
            writes, report = evaluate(conn, self.config, now=now)
        with self.writer.transaction() as conn:
            write(conn, writes)
        return report

    def notify(self, now: datetime) -> list[Outcome]:
        """Flush the groups that are due."""
        return self.notifier.flush(now)

    def run(self, now: datetime) -> tuple[EvaluationReport, list[Outcome]]:
        """Evaluate, then notify (on demand: ``POST /api/v1/alerts/evaluate``)."""
        return self.evaluate(now), self.notify(now)

    def send_test(self, now: datetime, names: list[str] | None = None) -> list[dict[str, Any]]:
        """A test notification through every channel (or the named ones), each result logged and returned."""
        results = []
        for name, channel in self.channels.items():
            if names and name not in names:
                continue
            text = f"🧪 Test notification from Flowwatch to channel {name} ({channel.type}) at {now:%H:%M:%S} UTC"
            message = Message(
                kind="test",
                text=text,
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
                subject=f"[Flowwatch] Test notification ({name})",
                body_text=text + "\n",
                body_html=f"<html><body><p>{text}</p></body></html>",
            )
            delivery = channel.deliver(message, [])
            self.notifier.record(name, "test", None, delivery, now, {"text": text})
            results.append(
                {
                    "channel": name,
                    "type": str(channel.type),
                    "ok": delivery.ok,
                    "detail": delivery.detail,
                    "attempts": delivery.attempts,
                }
            )
        return results

    def send_digests(self, now: datetime) -> list[dict[str, Any]]:
        """Send each digest whose time has come (once per channel, not more than an hour late)."""
        results = []
        for config in self.config.digests:
            slot, previous = digests.slots(config, now)
            if now - slot > digests.LATE:
                continue
            key = digests.digest_key(config, slot)
            names = [n for n in (config.channels or list(self.channels)) if n in self.channels]
            with self.engine.connect() as conn:
                pending = [n for n in names if not store.digest_sent(conn, key, n)]
                if not pending:
                    continue
                data = store.shift_digest(conn, since=previous, until=slot)
            message = digests.compose(config, data, self.base_url)
            for name in pending:
                delivery = self.channels[name].deliver(message, [])
                self.notifier.record(name, "digest", key, delivery, now, {"text": message.body_text})
                results.append({"digest": config.name, "channel": name, "ok": delivery.ok, "detail": delivery.detail})
        return results

    def channel_states(self, now: datetime) -> list[dict[str, Any]]:
        """Every channel with its health from the log: ok, or failing (since when, why, next try)."""
        with self.engine.connect() as conn:
            health = store.channel_health(conn)
        out = []
        for name, channel in self.channels.items():
            h = health.get(name, {})
            failures = h.get("failures_in_a_row", 0)
            retry_at = channel_retry_at(failures, h.get("last_failure_at"))
            out.append(
                {
                    "channel": name,
                    "type": str(channel.type),
                    "status": "failing" if failures else ("ok" if h.get("last_success_at") else "unused"),
                    "failures_in_a_row": failures,
                    "last_error": h.get("last_error") if failures else None,
                    "last_failure_at": h.get("last_failure_at"),
                    "last_success_at": h.get("last_success_at"),
                    "next_try_at": retry_at if retry_at and retry_at > now else None,
                }
            )
        return out

    def snooze_for(self) -> timedelta:
        """How long a Snooze from Slack silences a group."""
        return self.config.snooze
