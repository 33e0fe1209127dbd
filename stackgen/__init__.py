"""Turns the monitoring spec (spec.yaml) into a complete Prometheus/Alertmanager/Grafana stack.

Pipeline: spec/ (load YAML, read fields with their paths) -> model/ (validated,
immutable) -> render/ (one renderer per artifact) -> writer (atomic, drift check).
"""
