"""Notification preview: what each receiver gets, rendered by the real Alertmanager into local sinks."""
