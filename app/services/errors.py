"""Typed errors of the action services; the API maps them to 401, 403, 404, 409, 422 and 429."""

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


class Unauthorized(ServiceError):
    """No valid credentials. → 401"""


class Forbidden(ServiceError):
    """Authenticated, but the role or scope does not allow this (or four-eyes: not your own). → 403"""


class Throttled(ServiceError):
    """Too many failed logins (or requests); try again after ``retry_after`` seconds. → 429"""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
