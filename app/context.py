"""What one Flowwatch process shares: settings, the engine, the writer and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from app.settings import Settings
from models.db import make_engine
from models.queries.common import utcnow
from models.schema import create_schema
from models.writer import IngestWriter


@dataclass
class AppContext:
    """Built once per process by :func:`open_context`; never at import time."""

    settings: Settings
    engine: Engine
    writer: IngestWriter
    clock: Callable[[], datetime] = field(default=utcnow)

    def now(self) -> datetime:
        """The process clock (naive UTC); tests may pin it."""
        return self.clock()

    def close(self) -> None:
        """Release the database file."""
        self.engine.dispose()


def open_context(settings: Settings) -> AppContext:
    """Open the database, bring its schema up to date and build the writer."""
    engine = make_engine(
        settings.db,
        checkpoint_threshold=settings.checkpoint_threshold,
        memory_limit=settings.memory_limit,
    )
    create_schema(engine)
    return AppContext(settings=settings, engine=engine, writer=IngestWriter(engine))
