"""Every name the generator emits lives here: files, rule groups, metrics, recorded series.

Alert names live with their family in stackgen/alerts/families.yaml; templates reach the
metrics and recorded series below through signal keys (stackgen/signals.py).

Sources differ by label values (source="okx"), never by metric or alert name.
"""
from stackgen.signals import name as _signal
from stackgen.signals import registry

SPEC_VERSION = "tradingmon/v1"
SPEC_FILE = "spec.yaml"
GENERATED_BY = "generate.py"

# -- output files (relative to the output root) -------------------------------
PROMETHEUS_CONFIG = "stack/prometheus/prometheus.yml"
ALERTMANAGER_CONFIG = "stack/alertmanager/alertmanager.yml"
ROUTING_TESTS = "stack/alertmanager/routing-tests.yml"
RULES_DIR = "rules"
RULE_TESTS_DIR = "rules/tests"
RUNBOOK = "docs/runbook.md"
EXPORTER_CATALOG = "exporter/catalog.json"
EXPORTER_SIGNALS = "exporter/signals.json"
# Folders the generator owns entirely: files in them that it no longer renders are removed.
OWNED_DIRS = (RULES_DIR, "dashboards", "stack/grafana/provisioning", "k8s", "stack/agents", "stack/alertmanager/ha")

# Where the compose stack mounts things (prometheus.yml refers to rule files by these paths).
PROMETHEUS_RULES_MOUNT = "/etc/prometheus/rules"

# -- the metrics the generated rules read: signal names, from stackgen/data/signals.yaml ----
DRAWDOWN = _signal("drawdown")
WIN_RATE = _signal("win_rate")
ROUND_TRIPS = _signal("round_trips")
DAILY_PNL = _signal("daily_pnl")
LOOP_LATENCY = _signal("loop_latency")
HTTP_REQUESTS = _signal("http_requests")
HTTP_DURATION = _signal("http_duration")
RATE_LIMITER = _signal("rate_limiter")
FX_VALID_SOURCES = _signal("fx_valid_sources")
FX_MEDIAN = _signal("fx_median")
FX_SOURCE_RATE = _signal("fx_source_rate")
FX_SOURCE_CONNECTED = _signal("fx_source_connected")
FX_LAST_MESSAGE = _signal("fx_last_message")
WEBSOCKET_CONNECTIONS = _signal("websocket_connections")

# -- recorded series (level:metric:operations) ---------------------------------
LOOP_LATENCY_QUANTILE = f"instance:{LOOP_LATENCY}:quantile_rate5m"
HTTP_LATENCY_QUANTILE = f"instance_path:{HTTP_DURATION}:quantile_rate5m"
HTTP_REQUEST_RATE = f"instance_path:{HTTP_REQUESTS.removesuffix('_total')}:rate5m"
HTTP_ERROR_RATIO = f"instance:{HTTP_REQUESTS.removesuffix('_total')}:error_ratio_rate5m"
RATE_LIMITED_RATE = f"instance:{RATE_LIMITER.removesuffix('_total')}:limited_rate5m"
FX_SOURCE_AGE = f"source:{FX_LAST_MESSAGE.removesuffix('_timestamp_seconds')}_age_seconds"
FX_SOURCE_DEVIATION = f"source:{FX_SOURCE_RATE.removesuffix('_rate')}_deviation_bps"
ORDER_LATENCY_QUANTILE = f"instance_exchange:{_signal('order_latency')}:quantile_rate5m"
MARKET_DATA_AGE = f"feed:{_signal('market_data_last_update').removesuffix('_last_update_timestamp_seconds')}" \
    "_age_seconds"
RATE_LIMIT_USAGE = f"exchange:{_signal('rate_limit_used').removesuffix('_used')}:usage_ratio"
EXPOSURE_RATIO = f"symbol:{_signal('position_notional').removesuffix('_notional_usd')}:exposure_ratio"
BALANCE_DRIFT_RATIO = f"asset:{_signal('balance').removesuffix('_usd')}:drift_ratio"
# SLOs (the spec's `slos:`): named as sloth names its records, so the series compare with sloth's.
SLO_ERROR_RATIO = "slo:sli_error:ratio_rate{window}"
SLO_EVENTS_RATE = "slo:sli_events:rate{window}"     # not sloth's: all events per second, for the low-traffic guard
SLO_OBJECTIVE = "slo:objective:ratio"
SLO_ERROR_BUDGET = "slo:error_budget:ratio"
SLO_TIME_PERIOD = "slo:time_period:days"
SLO_CURRENT_BURN = "slo:current_burn_rate:ratio"
SLO_PERIOD_BURN = "slo:period_burn_rate:ratio"
SLO_BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
SLO_WINDOW_LABEL = "sloth_window"
SLO_SEVERITY_LABEL = "sloth_severity"
# Money budgets: what is left of the budget, and the seconds until it is gone at a window's pace.
BUDGET_REMAINING = "budget:remaining:ratio"
BUDGET_EXHAUSTION = "budget:exhaustion_seconds:deriv{window}"
BUDGET_LABEL = "budget"
SLO_DASHBOARD_UID = "slo-budgets"
# A Summary (quantiles computed by the bot) feeds the same recorded quantile series a histogram
# does: signal key -> the recorded quantile series of that histogram signal.
QUANTILE_SERIES = {"loop_latency": LOOP_LATENCY_QUANTILE, "http_duration": HTTP_LATENCY_QUANTILE,
                   "order_latency": ORDER_LATENCY_QUANTILE}

# Series the built-in recording rules write (level:metric:operations; their names above).
# Alert families (stackgen/alerts/families.yaml) name them by these keys, like the signals.
RECORDED_KEYS = (
    "loop_latency_quantile", "http_latency_quantile", "http_error_ratio", "rate_limited_rate",
    "fx_source_age", "fx_source_deviation", "order_latency_quantile", "market_data_age", "rate_limit_usage",
    "exposure_ratio", "balance_drift_ratio",
)


def signal_names(stack=None) -> dict[str, str]:
    """Signal key -> series name, for the rules and panels of a stack (every stack reads the same names):
    the registry's signals and the recorded series the built-in rules write.

    Alert templates never name a metric; this is the one seam between their keys and the names."""
    names = {s.key: s.name for s in registry().signals}
    names.update({key: globals()[key.upper()] for key in RECORDED_KEYS})
    return names


# URLs of the example spec that nobody else can open: while an alert link still starts with one,
# generate.py says so (the runbook and dashboard links of every notification would be dead).
PLACEHOLDER_URLS = ("https://github.com/your-org/", "http://localhost:3000")

# Labels that tell one alert instance from another; inhibitions compare them.
IDENTITY_LABELS = ("alertname", "job", "instance", "env", "universe", "strategy", "source", "path", "quantile")
SEVERITIES = ("critical", "warning", "info", "none")

# Series every Prometheus has without a catalog entry (job/instance labels only).
WELL_KNOWN_SERIES = {
    "up": (), "scrape_duration_seconds": (), "scrape_samples_scraped": (),
    "process_resident_memory_bytes": (), "process_cpu_seconds_total": (),
    "process_virtual_memory_bytes": (), "process_open_fds": (), "process_start_time_seconds": (),
    "ALERTS": ("alertname", "alertstate", "severity"),
}
# Labels every scraped series carries.
TARGET_LABELS = ("job", "instance")
# Prometheus external_labels (global.*): on series only where they leave Prometheus (remote write to a
# shared store, federation) and on alerts; dashboard filters on them must tolerate their absence.
EXTERNAL_LABELS = ("project", "cluster", "environment")

# Compose service names (and the Docker host) that the native mode maps to 127.0.0.1.
COMPOSE_HOSTS = ("prometheus", "alertmanager", "grafana", "exporter", "host.docker.internal")
SERVICE_PORTS = {"prometheus": 9090, "alertmanager": 9093, "grafana": 3000, "exporter": 9100}

# -- Who can get in: Prometheus and Alertmanager behind basic auth (--web.config.file) ---------
# One user per service; each password is a variable of .env (random, written by the first
# `make up`), never a value in a generated or committed file.
WEB_AUTH_USER = "admin"
WEB_PASSWORD_VARIABLES = {"prometheus": "PROM_WEB_PASSWORD", "alertmanager": "AM_WEB_PASSWORD"}
# The files Prometheus reads the passwords from (self-scrape, alerting) and the web config files,
# inside the compose containers; natively stackctl points them into run/.
PROMETHEUS_SECRETS_MOUNT = "/etc/prometheus/secrets"
WEB_CONFIG_FILE = "web.yml"
PASSWORD_FILES = {"prometheus": "prometheus_password", "alertmanager": "alertmanager_password"}

# -- Grafana (dashboards and provisioning) --------------------------------------
DASHBOARDS_DIR = "dashboards"                        # dashboards/<folder>/<uid>.json
GRAFANA_PROVISIONING_DIR = "stack/grafana/provisioning"
GRAFANA_DATASOURCES = "stack/grafana/provisioning/datasources/datasources.yml"
GRAFANA_DASHBOARD_PROVIDERS = "stack/grafana/provisioning/dashboards/dashboards.yml"
# Environment for the grafana container (compose `env_file:`), e.g. the home dashboard path.
GRAFANA_ENV_FILE = "stack/grafana/grafana.env"
# Where the compose stack mounts them in the grafana container.
GRAFANA_PROVISIONING_MOUNT = "/etc/grafana/provisioning"
GRAFANA_DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards"
GRAFANA_HOME_DASHBOARD_ENV = "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
# Datasources as Grafana lists them; panels and variables refer to them by uid only.
GRAFANA_PROMETHEUS_NAME = "Prometheus"
GRAFANA_ALERTMANAGER_NAME = "Alertmanager"
GRAFANA_PROMETHEUS_URL = f"http://prometheus:{SERVICE_PORTS['prometheus']}"
GRAFANA_ALERTMANAGER_URL = f"http://alertmanager:{SERVICE_PORTS['alertmanager']}"
# The dashboard variable that selects the Prometheus datasource; panels use {"uid": "${datasource}"}.
DATASOURCE_VARIABLE = "datasource"
# Every generated dashboard carries this tag; the "Dashboards" link menu lists dashboards by it.
DASHBOARD_TAG = "tradingmon"
DASHBOARD_SCHEMA_VERSION = 41
DASHBOARD_TIMEZONE = "utc"


def dashboard_file(folder: str, uid: str) -> str:
    """The generated dashboard's path relative to the output root."""
    return f"{DASHBOARDS_DIR}/{folder}/{uid}.json"


def dashboard_mount_path(folder: str, uid: str) -> str:
    """The same file inside the grafana container."""
    return f"{GRAFANA_DASHBOARDS_MOUNT}/{folder}/{uid}.json"


# -- scale-out (docs/scale-out.md) ------------------------------------------------
# Kubernetes output for kube-prometheus-stack / prometheus-operator.
K8S_DIR = "k8s"
K8S_KUSTOMIZATION = "k8s/kustomization.yaml"
K8S_HELM_VALUES = "k8s/values-kube-prometheus-stack.yaml"   # not a manifest: `helm ... -f` it
K8S_NAME_PREFIX = "tradingmon"
K8S_JOB_LABEL = "tradingmon.io/scrape-job"                  # on the generated Services
K8S_METRICS_PORT = "metrics"                                # the named port monitors scrape
# kubectl apply keeps the whole object in an annotation limited to 262,144 bytes; stay clearly below.
K8S_MANIFEST_MAX_BYTES = 250 * 1024
GRAFANA_DASHBOARD_LABEL = ("grafana_dashboard", "1")         # the chart's sidecar label (a string)
GRAFANA_FOLDER_ANNOTATION = "grafana_folder"
# kube-prometheus-stack mounts alertmanagerSpec.secrets at <this>/<secret name>/<key>.
K8S_ALERTMANAGER_SECRETS_MOUNT = "/etc/alertmanager/secrets"
# Agent-mode Prometheus per bot host; Alertmanager HA peers.
AGENTS_DIR = "stack/agents"                                 # stack/agents/<host>/prometheus.yml + .args
ALERTMANAGER_HA_DIR = "stack/alertmanager/ha"               # stack/alertmanager/ha/<n>.args
AGENT_STORAGE_PATH = "/var/lib/prometheus/agent"
PROMETHEUS_AGENT_FLAGS = {2: "--enable-feature=agent", 3: "--agent"}
TENANT_HEADER = "X-Scope-OrgID"
