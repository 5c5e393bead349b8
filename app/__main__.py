"""`python -m app` runs the CLI (the tests start servers this way)."""

from app.cli import main

main()
