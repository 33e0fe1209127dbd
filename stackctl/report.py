"""What `up` and `status` print: where each service answers, Grafana's folders and dashboards.

The web UI paths differ by build: Prometheus' official image serves its UI at /targets and /alerts,
Debian's 2.42 package only the classic UI at /classic/targets (and 404 at /targets); Debian's
Alertmanager package has no web UI at all (its / says so), the official image has one. So the
printed links are probed on the running service, in the order below, and the first that answers is
printed; a service with no UI gets its API and what to use instead."""
from __future__ import annotations

from stackgen.model.stack import Stack
from stackctl import health
from stackctl.settings import Settings

# Each UI page, the paths that serve it in the builds we run, the official image's first.
PROMETHEUS_PAGES = {"targets": ("/targets", "/classic/targets"), "alerts": ("/alerts", "/classic/alerts")}
# What Debian's Alertmanager serves at / instead of its UI.
NO_ALERTMANAGER_UI = "does not include a web"


def _first_page(base: str, paths: tuple[str, ...], auth) -> str:
    """The first of `paths` that answers 200 on the running service (the first when none answers)."""
    for path in paths:
        if health.request(base + path, timeout=2, auth=auth).status == 200:
            return path
    return paths[0]


def _alertmanager_has_ui(base: str, auth) -> bool:
    reply = health.request(base + "/", timeout=2, auth=auth)
    return not (reply.status == 200 and NO_ALERTMANAGER_UI in reply.body)


def urls(settings: Settings, stack: Stack | None, grafana: bool = True, host: str = "",
         exporter: bool = True) -> list[str]:
    def at(service: str, path: str = "") -> str:
        return f"http://{host or '127.0.0.1'}:{settings.ports[service]}{path}"

    lines = []
    if grafana:
        lines.append(f"  Grafana       {at('grafana', '/')}  (user admin, password in {settings.root / '.env'})")
        if stack is not None and stack.grafana is not None:
            titles = {d.uid: d.title for d in stack.dashboards}
            for folder in stack.grafana.folders:
                lines.append(f"    folder {folder.title:<14} {at('grafana', f'/dashboards/f/{folder.name}/')}")
                for dashboard in stack.dashboards:
                    if dashboard.folder == folder.name:
                        lines.append(f"      {titles[dashboard.uid]:<19} {at('grafana', f'/d/{dashboard.uid}')}")
    prometheus, auth = at("prometheus"), settings.auth("prometheus")
    pages = {page: at("prometheus", _first_page(prometheus, paths, auth)) for page, paths in PROMETHEUS_PAGES.items()}
    lines.append(f"  Prometheus    {pages['targets']}  (alerts: {pages['alerts']})")
    if _alertmanager_has_ui(at("alertmanager"), settings.auth("alertmanager")):
        lines.append(f"  Alertmanager  {at('alertmanager', '/')}")
    else:
        lines.append(f"  Alertmanager  {at('alertmanager', '/api/v2/alerts')}  (API only: this build has no web UI; "
                     "`amtool alert query` or Grafana's Alertmanager datasource show the alerts)")
    if exporter:
        lines.append(f"  Exporter      {at('exporter', '/metrics')}  (health: {at('exporter', '/health')})")
    return lines
