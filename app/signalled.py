"""uvicorn's server, remembering the signal that stopped it, so ``flowwatch serve`` exits 128 + signal.

uvicorn re-raises the signal after its clean shutdown, but from inside ``asyncio.run``, whose own
SIGINT handler turns it into KeyboardInterrupt (typer: exit 130) only while the main task is still
running; on a busy machine the task had already finished and a Ctrl+C ended the process with 0.
"""

from __future__ import annotations

from types import FrameType

import uvicorn


class SignalledServer(uvicorn.Server):
    """``stopped_by``: the signal (SIGINT, SIGTERM) that asked it to stop, None while none has."""

    stopped_by: int | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopped_by = sig
        super().handle_exit(sig, frame)
