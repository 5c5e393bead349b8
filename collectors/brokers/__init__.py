"""Canonical events consumed from the company's message broker: RabbitMQ (a queue bound to its
exchange) and NATS JetStream (a durable pull consumer). Configured as ``[[brokers]]``.

The contract is the HTTP endpoint's: a message's body is one event, a JSON array of them or NDJSON.
A message is acknowledged only once its valid records are in the write-ahead buffer (durable), so a
crash or a broker restart redelivers it and the writer's de-duplication on ``event_id`` keeps each
event once. A message holding invalid records goes, whole, to the dead-letter queue with the reasons
in a header (``x-flowwatch-error``); its valid records are ingested all the same.
"""

from collectors.brokers.config import BrokerConfig, NatsConfig, RabbitConfig
from collectors.brokers.runner import BrokerConsumers, ConsumerStatus

__all__ = ["BrokerConfig", "BrokerConsumers", "ConsumerStatus", "NatsConfig", "RabbitConfig"]
