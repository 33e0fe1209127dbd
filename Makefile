# Monitoring stack for trading bots. `make` (or `make help`) lists every target.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup tools generate dashboards init probe check test lint bench backtest preview clean up down status reload logs

help: ## List every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "setup: needs Python 3.11+ with venv and ensurepip; on Debian: sudo apt-get install python3-venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP) ## Create the virtual environment (.venv) with the pinned dependencies

tools: ## Install Debian's prometheus, prometheus-alertmanager and victoria-metrics when missing (as root), leaving none of their services running
	@$(PYTHON) -m stackctl.tools install

generate: $(STAMP) ## Render every generated file from spec.yaml (rules, tests, configs, dashboards)
	$(PY) generate.py

dashboards: generate ## Regenerate the dashboards (and everything else generated from the spec)

init: $(STAMP) ## Propose a spec and profile from a bot's /metrics: make init FROM=URL|FILE [OUT=my-bot.yaml]
	@test -n "$(FROM)" || { echo "usage: make init FROM=http://host:port/metrics|FILE [OUT=my-bot.yaml]" >&2; exit 2; }
	$(PY) generate.py init --from "$(FROM)" --out "$(or $(OUT),my-bot.yaml)"

probe: $(STAMP) ## Check a spec's profiles against a bot's /metrics: make probe FROM=URL|FILE [SPEC=spec.yaml]
	@test -n "$(FROM)" || { echo "usage: make probe FROM=http://host:port/metrics|FILE [SPEC=spec.yaml]" >&2; exit 2; }
	$(PY) generate.py --spec "$(or $(SPEC),spec.yaml)" --probe "$(FROM)"

check: $(STAMP) tools ## Drift check, then promtool check config/rules, promtool test rules, amtool and routing tests
	$(PY) generate.py --check
	$(PY) -m stackgen.checks

test: $(STAMP) tools ## Lint, then the whole test suite (unit, golden, real promtool/amtool/Prometheus/Alertmanager, e2e)
	$(PY) -m ruff check stackgen stackctl exporter tests generate.py
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) -m pytest

lint: $(STAMP) ## Lint the Python code with ruff, then the layer contracts (import-linter; pyproject.toml)
	$(PY) -m ruff check stackgen stackctl exporter tests generate.py
	$(VENV)/bin/lint-imports --no-cache --no-logo

bench: $(STAMP) ## Benchmarks: exporter hot path, /metrics, scraping, ASGI; generator cold time and 100x scale; native up time; backtest of 7 days (prints figures, never fails on time; ~5 min)
	$(PY) bench/exporter_bench.py
	$(PY) bench/generate_bench.py --repeats 3
	$(PY) bench/stack_up_bench.py --runs 3 --make
	$(PY) bench/backtest_bench.py

backtest: $(STAMP) ## Replay every rule over recorded history (BACKTEST_URL; BACKTEST_ARGS="--days 30 --against main"): per-alert report + timelines in backtest-report/
	$(PY) generate.py backtest $(BACKTEST_ARGS)

preview: $(STAMP) ## Render with the real Alertmanager what each receiver gets for one firing and one resolved alert of every family (docs/notifications/)
	$(PY) generate.py preview

up: $(STAMP) generate ## Start the stack (Docker compose if an engine answers, else local processes), wait until healthy, print the URLs
	@# Natively `up` needs prometheus and an alertmanager; `make tools` only when one is missing (it takes a while).
	@{ command -v prometheus && { command -v prometheus-alertmanager || command -v alertmanager; }; } >/dev/null \
		|| $(MAKE) --no-print-directory tools || echo "up: continuing: a Docker engine does not need these local binaries" >&2
	$(PY) -m stackctl up

down: $(STAMP) ## Stop exactly what `make up` started (docker compose down, or its recorded processes)
	$(PY) -m stackctl down

status: $(STAMP) ## Health of every service (/-/healthy, /-/ready, /health), its port and the Prometheus targets; exit 0 when healthy or stopped, 1 when something is unhealthy
	$(PY) -m stackctl status

reload: $(STAMP) generate ## Regenerate, then hot-reload Prometheus and Alertmanager without a restart
	$(PY) -m stackctl reload

logs: $(STAMP) ## Follow the logs (run/logs/*.log natively, else docker compose logs); Ctrl-C to stop
	$(PY) -m stackctl logs --follow

clean: ## Stop a running native stack, then remove the virtual environment, caches and the run folder
	@# run/ holds the PIDs of a native stack: stop it first, or its processes would be orphaned.
	@if [ -d run ] && [ -x $(PY) ]; then $(PY) -m stackctl down || true; fi
	rm -rf $(VENV) .pytest_cache .ruff_cache run *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
