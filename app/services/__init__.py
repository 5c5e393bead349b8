"""Action services behind the exception workbench: lifecycle, replay and bulk actions.

Functions that only touch the database take a keyword-only ``conn`` and never commit:
the edge (an API route, a Dash callback, a job) opens the transaction, usually with
``ctx.writer.transaction()``. Replays span a network call, which must never hold the
single writer transaction, so they take the :class:`~app.context.AppContext` and open
short transactions around the delivery themselves.
"""
