"""Queue-depth pollers: RabbitMQ (AMQP and management API), Prometheus text, generic JSON.

Each kind is a small plugin (``kinds.py``); ``PollerRunner`` runs them on the schedule
with failure tracking and backoff. Configured as ``[[pollers]]`` in the settings file.
"""

from collectors.pollers.base import PartialPoll, PollError
from collectors.pollers.kinds import POLL, PollerConfig, check_unique_names, poll
from collectors.pollers.runner import PollerRunner, PollerStatus

__all__ = [
    "POLL",
    "PartialPoll",
    "PollError",
    "PollerConfig",
    "PollerRunner",
    "PollerStatus",
    "check_unique_names",
    "poll",
]
