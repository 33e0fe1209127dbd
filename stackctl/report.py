"""What `up` and `status` print: where each service answers, Grafana's folders and dashboards."""
from __future__ import annotations

from stackgen.model.stack import Stack
from stackctl.settings import Settings


def urls(settings: Settings, stack: Stack | None, grafana: bool = True, host: str = "") -> list[str]:
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
    lines.append(f"  Prometheus    {at('prometheus', '/')}  (targets: {at('prometheus', '/targets')}, "
                 f"alerts: {at('prometheus', '/alerts')})")
    lines.append(f"  Alertmanager  {at('alertmanager', '/')}")
    lines.append(f"  Exporter      {at('exporter', '/metrics')}  (health: {at('exporter', '/health')})")
    return lines
