"""Bring the monitoring stack up and down: Docker compose where an engine answers, else local processes.

    python -m stackctl up|down|status|reload|logs

The Makefile's `make up`, `make down`, ... call this after `make generate`.
"""
