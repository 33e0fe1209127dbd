"""Every name the generator emits lives here: files, rule groups, alert names, recorded series.

Sources differ by label values (source="okx"), never by metric or alert name.
"""

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
# Folders the generator owns entirely: files in them that it no longer renders are removed.
OWNED_DIRS = (RULES_DIR, "dashboards", "stack/grafana/provisioning", "k8s", "stack/agents", "stack/alertmanager/ha")

# Where the compose stack mounts things (prometheus.yml refers to rule files by these paths).
PROMETHEUS_RULES_MOUNT = "/etc/prometheus/rules"

# -- the metrics the generated rules read (must be in the spec's catalog) ------
DRAWDOWN = "trading_drawdown_ratio"
WIN_RATE = "trading_win_rate_ratio"
ROUND_TRIPS = "trading_round_trips_total"
DAILY_PNL = "trading_daily_pnl_usd"
LOOP_LATENCY = "trading_loop_latency_seconds"
HTTP_REQUESTS = "http_requests_total"
HTTP_DURATION = "http_request_duration_seconds"
RATE_LIMITER = "api_rate_limiter_requests_total"
FX_VALID_SOURCES = "fx_valid_sources"
FX_MEDIAN = "fx_median_rate"
FX_SOURCE_RATE = "fx_source_rate"
FX_SOURCE_CONNECTED = "fx_source_connected"
FX_LAST_MESSAGE = "fx_source_last_message_timestamp_seconds"

# -- recorded series (level:metric:operations) ---------------------------------
LOOP_LATENCY_QUANTILE = "instance:trading_loop_latency_seconds:quantile_rate5m"
HTTP_LATENCY_QUANTILE = "instance_path:http_request_duration_seconds:quantile_rate5m"
HTTP_REQUEST_RATE = "instance_path:http_requests:rate5m"
HTTP_ERROR_RATIO = "instance:http_requests:error_ratio_rate5m"
RATE_LIMITED_RATE = "instance:api_rate_limiter_requests:limited_rate5m"
FX_SOURCE_AGE = "source:fx_source_last_message_age_seconds"
FX_SOURCE_DEVIATION = "source:fx_source_deviation_bps"

# -- alert names ---------------------------------------------------------------
ALERT_DRAWDOWN = "TradingDrawdownHigh"
ALERT_WIN_RATE = "TradingWinRateLow"
ALERT_DAILY_LOSS = "TradingDailyLossLimit"
ALERT_LOOP_LATENCY = "TradingLoopLatencyHigh"
ALERT_API_LATENCY = "ApiLatencyHigh"
ALERT_API_ERRORS = "ApiErrorRateHigh"
ALERT_RATE_LIMITING = "ApiRateLimiting"
ALERT_FX_STALE = "FxSourceStale"
ALERT_FX_SOURCES = "FxValidSourcesLow"
ALERT_FX_DEVIATION = "FxSourceDeviation"
ALERT_TARGET_DOWN = "TargetDown"
ALERT_TARGET_ABSENT = "TargetAbsent"
ALERT_WATCHDOG = "Watchdog"

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
