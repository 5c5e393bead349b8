"""Channels: one small integration each behind :class:`alerts.channels.base.Channel`."""

from __future__ import annotations

from alerts.channels.base import Channel, Pacer, RetryPolicy
from alerts.channels.email import EmailChannel
from alerts.channels.slack import SlackBot, SlackWebhook
from alerts.config import ChannelConfig, ChannelType


def build_channel(config: ChannelConfig, *, policy: RetryPolicy | None = None, pacer: Pacer | None = None) -> Channel:
    """The integration a channel's type names, with its retry policy (attempts from its config)."""
    policy = policy or RetryPolicy(attempts=config.max_attempts)
    if config.type is ChannelType.SLACK:
        return SlackBot(config, policy=policy, pacer=pacer or Pacer())
    if config.type is ChannelType.SLACK_WEBHOOK:
        return SlackWebhook(config, policy=policy, pacer=pacer or Pacer())
    return EmailChannel(config, policy=policy)


__all__ = ["Channel", "EmailChannel", "SlackBot", "SlackWebhook", "build_channel"]
