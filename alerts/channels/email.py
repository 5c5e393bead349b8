"""Email over SMTP (stdlib ``smtplib``/``email``): STARTTLS or implicit TLS, optional login, a text and
an HTML part with the same content. Every mail of a group episode keeps the first one's subject, and
later ones reply under it (``In-Reply-To`` the first ``Message-ID``, ``References`` all before), so
the resolve lands in the firing mail's thread."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from alerts.channels.base import Delivery, Message, Retryable, RetryPolicy
from alerts.config import ChannelConfig, ChannelType


class EmailChannel:
    """One SMTP relay and its recipients."""

    type = ChannelType.EMAIL
    can_update = False

    def __init__(self, config: ChannelConfig, *, policy: RetryPolicy, tls: ssl.SSLContext | None = None) -> None:
        self.name = config.name
        self.config, self.policy = config, policy
        self.tls = tls or ssl.create_default_context()

    def compose(self, message: Message, thread: list[dict[str, Any]]) -> EmailMessage:
        """The mail, threaded under what this channel already sent for the episode."""
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = str(self.config.from_)
        mail["To"] = ", ".join(self.config.to)
        mail["Date"] = formatdate(usegmt=True)
        domain = str(self.config.from_).rpartition("@")[2] or "flowwatch.local"
        mail["Message-ID"] = make_msgid(domain=domain)
        earlier = [r["message_id"] for r in thread if r and r.get("message_id")]
        if earlier:
            mail["In-Reply-To"] = earlier[0]
            mail["References"] = " ".join(earlier)
        mail.set_content(message.body_text)
        mail.add_alternative(message.body_html, subtype="html")
        return mail

    def deliver(self, message: Message, thread: list[dict[str, Any]]) -> Delivery:
        """Send through the relay; connection problems and 4xx answers are retried, 5xx are final."""
        mail = self.compose(message, thread)
        config = self.config

        def attempt() -> None:
            try:
                if config.ssl:
                    smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                        str(config.smtp_host), config.smtp_port, timeout=config.timeout_seconds, context=self.tls
                    )
                else:
                    smtp = smtplib.SMTP(str(config.smtp_host), config.smtp_port, timeout=config.timeout_seconds)
                with smtp:
                    if config.starttls and not config.ssl:
                        smtp.starttls(context=self.tls)
                    if config.smtp_user:
                        smtp.login(config.smtp_user, config.smtp_password or "")
                    smtp.send_message(mail)
            except smtplib.SMTPResponseException as exc:
                said = exc.smtp_error
                text = f"SMTP {exc.smtp_code}: {said.decode(errors='replace') if isinstance(said, bytes) else said}"
                if 400 <= exc.smtp_code < 500:
                    raise Retryable(text) from exc
                raise _Final(text) from exc
            except ssl.SSLCertVerificationError as exc:
                raise _Final(f"TLS certificate of {config.smtp_host} refused: {exc.verify_message}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                raise Retryable(f"{type(exc).__name__}: {exc}") from exc

        try:
            _, attempts, error = self.policy.run(attempt)
        except _Final as exc:
            return Delivery(False, str(exc), 1)
        if error is not None:
            return Delivery(False, error, attempts)
        return Delivery(True, f"mailed to {len(config.to)} recipient(s)", attempts, {"message_id": mail["Message-ID"]})


class _Final(Exception):
    """The relay refused for good (5xx)."""
