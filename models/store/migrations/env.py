"""Alembic environment of the PostgreSQL schema: the target is the SQLAlchemy Core metadata of tables.py.

Run by :func:`models.store.migrate.upgrade` on start (the connection is handed in through
``config.attributes``), or by ``alembic -x url=postgresql+psycopg://... upgrade head`` from this folder.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from models.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    url = context.get_x_argument(as_dictionary=True)["url"]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
else:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
