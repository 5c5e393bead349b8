"""Alerting: rules evaluated over the query layer, Alertmanager-style grouping, inhibition and silences,
and notifications to Slack and email with their business impact (see ARCHITECTURE.md)."""
