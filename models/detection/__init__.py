"""Detection: the passes that open, hold down, resolve and reopen exceptions, and their rules."""
