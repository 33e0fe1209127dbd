"""Grafana provisioning: the datasources, one dashboard provider per folder, and the home dashboard.

- stack/grafana/provisioning/datasources/datasources.yml: Prometheus and Alertmanager under
  the spec's fixed uids (panels reach Prometheus by that uid, never by name).
- stack/grafana/provisioning/dashboards/dashboards.yml: one provider per folder reading
  /var/lib/grafana/dashboards/<folder>/ in the container; UI saves refused, deletion disabled,
  so the repository stays the only source of the dashboards.
- stack/grafana/grafana.env: the container environment that makes the spec's home dashboard
  Grafana's home page (compose: `env_file:`).
- stack/grafana/provisioning/{alerting,plugins}/README.md: the mount replaces the image's whole
  /etc/grafana/provisioning, and Grafana logs an error at each start for every folder of
  PROVISIONING_FOLDERS that is missing; a README (Grafana reads only .yaml/.yml/.json there)
  keeps the empty ones in the repository.
"""
from __future__ import annotations

from stackgen import conventions as names
from stackgen.model.stack import Stack
from stackgen.render.output import header, to_yaml


# Every folder Grafana 12 reads under its provisioning path at start.
PROVISIONING_FOLDERS = ("alerting", "dashboards", "datasources", "plugins")
EMPTY_FOLDER_README = """\
Empty on purpose: Grafana reads this folder at start and logs an error when it is missing.
The monitoring stack provisions nothing here; alert rules live in Prometheus (rules/).
"""


def render(stack: Stack) -> dict[str, str]:
    out = {
        names.GRAFANA_DATASOURCES: to_yaml(datasources(stack), stack.source, sort_keys=False),
        names.GRAFANA_DASHBOARD_PROVIDERS: to_yaml(providers(stack), stack.source, sort_keys=False),
        names.GRAFANA_ENV_FILE: header(stack.source) + f"{names.GRAFANA_HOME_DASHBOARD_ENV}={home_path(stack)}\n",
    }
    used = {path.split("/")[len(names.GRAFANA_PROVISIONING_DIR.split("/"))] for path in out
            if path.startswith(names.GRAFANA_PROVISIONING_DIR + "/")}
    for folder in PROVISIONING_FOLDERS:
        if folder not in used:
            out[f"{names.GRAFANA_PROVISIONING_DIR}/{folder}/README.md"] = (
                "<!-- " + header(stack.source).removeprefix("# ").rstrip("\n") + " -->\n" + EMPTY_FOLDER_README)
    return out


def _basic_auth(service: str) -> dict:
    """Grafana logs in to Prometheus / Alertmanager with the password from its environment: Grafana
    expands ${NAME} in provisioning files, so the value never appears in this file."""
    return {"basicAuth": True, "basicAuthUser": names.WEB_AUTH_USER,
            "secureJsonData": {"basicAuthPassword": "${%s}" % names.WEB_PASSWORD_VARIABLES[service]}}


def datasources(stack: Stack) -> dict:
    grafana = stack.grafana
    return {
        "apiVersion": 1,
        # Datasources removed from this file are removed from Grafana too.
        "prune": True,
        "datasources": [
            {
                "name": names.GRAFANA_PROMETHEUS_NAME,
                "type": "prometheus",
                "uid": grafana.prometheus_uid,
                "access": "proxy",
                "url": names.GRAFANA_PROMETHEUS_URL,
                **_basic_auth("prometheus"),
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "httpMethod": "POST",
                    "prometheusType": "Prometheus",
                    # The scrape interval: $__rate_interval is at least four of it, so rate() always
                    # sees enough samples.
                    "timeInterval": stack.glob.scrape_interval,
                },
            },
            {
                "name": names.GRAFANA_ALERTMANAGER_NAME,
                "type": "alertmanager",
                "uid": grafana.alertmanager_uid,
                "access": "proxy",
                "url": names.GRAFANA_ALERTMANAGER_URL,
                **_basic_auth("alertmanager"),
                "editable": False,
                "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
            },
        ],
    }


def providers(stack: Stack) -> dict:
    used = {d.folder for d in stack.dashboards}
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": folder.name,
                "orgId": 1,
                "type": "file",
                "folder": folder.title,
                "folderUid": folder.name,
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": f"{names.GRAFANA_DASHBOARDS_MOUNT}/{folder.name}",
                            "foldersFromFilesStructure": False},
            }
            for folder in stack.grafana.folders if folder.name in used
        ],
    }


def home_path(stack: Stack) -> str:
    home = next(d for d in stack.dashboards if d.uid == stack.grafana.home_dashboard)
    return names.dashboard_mount_path(home.folder, home.uid)
