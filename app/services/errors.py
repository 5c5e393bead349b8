"""Typed errors of the action services; the API maps them to 404, 409 and 422."""

from __future__ import annotations


class ServiceError(Exception):
    """An action was refused; the message says why in words an operator understands."""


class NotFound(ServiceError):
    """The exception (or bulk run) does not exist. → 404"""


class Conflict(ServiceError):
    """The action does not fit the current state (closed exception, replay in flight, same approver). → 409"""


class IllegalTransition(Conflict):
    """The lifecycle forbids ``action`` from ``status``."""

    def __init__(self, action: str, status: str, reason: str) -> None:
        super().__init__(reason)
        self.action = action
        self.status = status


class InvalidRequest(ServiceError):
    """The request itself is wrong (snooze in the past, unknown severity, unchanged edit). → 422"""
