"""Alert rules and channels (Slack, email): the package DESIGN.md reserves; no issue has asked for it yet."""
