"""Per-process state of the action services, held by the AppContext (never at import)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.services.bulk import BulkRunner
from app.services.replay import InFlight


@dataclass
class ActionRuntime:
    """Replays in flight in this process and its running bulk runs."""

    in_flight: InFlight = field(default_factory=InFlight)
    bulk: BulkRunner = field(default_factory=BulkRunner)

    def close(self) -> None:
        """Park running bulk runs after their current item; they stay resumable."""
        self.bulk.stop()
