"""Agent-mode Prometheus per bot host, and the flags of clustered Alertmanagers.

- stack/agents/<host>/prometheus.yml: scrape this host's jobs and remote_write everything kept to the
  store; no rule_files, no alerting (agent mode has neither); external labels carry the host, so the
  store tells hosts apart and the central rules see one series per host;
- stack/agents/<host>/prometheus.args: the command-line flags, one a line (`--enable-feature=agent` on
  Prometheus 2.x, `--agent` on 3.x, from remote_write.prometheus_version);
- stack/alertmanager/ha/<n>.args: each Alertmanager's web and cluster addresses and its --cluster.peer
  flags (every other instance). prometheus.yml lists every instance under alerting.alertmanagers.
"""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.model.scale import AgentHost
from stackgen.model.stack import Stack
from stackgen.render import hosts
from stackgen.render.output import header, to_yaml
from stackgen.render.builders.prometheus import scrape_entry
from stackgen.render.builders.remote_write import remote_write_entry


def agent_config(stack: Stack, host: AgentHost, deployment: str = hosts.COMPOSE) -> dict:
    g, rw = stack.glob, stack.remote_write
    overrides = dict(host.targets)
    scrape_configs = []
    for job in stack.scrape.jobs:
        if job.name in host.jobs:
            targets = overrides.get(job.name, job.targets)
            scrape_configs.append(scrape_entry(stack, job, [hosts.address(t, deployment) for t in targets]))
    return {
        "global": {
            "scrape_interval": g.scrape_interval,
            "scrape_timeout": g.scrape_timeout,
            "external_labels": {"project": g.project, "cluster": g.cluster, "environment": g.environment,
                                rw.host_label: host.name},
        },
        "scrape_configs": scrape_configs,
        "remote_write": [remote_write_entry(stack)],
    }


def agent_args(stack: Stack, host: AgentHost, config_file: str, storage_path: str = n.AGENT_STORAGE_PATH,
               listen: str = "127.0.0.1:9090") -> list[str]:
    return [n.PROMETHEUS_AGENT_FLAGS[stack.remote_write.prometheus_major], f"--config.file={config_file}",
            f"--storage.agent.path={storage_path}", f"--web.listen-address={listen}"]


def alertmanager_args(stack: Stack, index: int) -> list[str]:
    instances = stack.alertmanager_ha.instances
    me = instances[index]
    return ([f"--web.listen-address={me.web}", f"--cluster.listen-address={me.cluster}"]
            + [f"--cluster.peer={other.cluster}" for i, other in enumerate(instances) if i != index])


def _args_file(stack: Stack, args: list[str]) -> str:
    return header(stack.source) + "".join(f"{a}\n" for a in args)


def render(stack: Stack) -> dict[str, str]:
    files = {}
    if stack.remote_write:
        for host in stack.remote_write.hosts:
            base = f"{n.AGENTS_DIR}/{host.name}"
            files[f"{base}/prometheus.yml"] = to_yaml(agent_config(stack, host), stack.source, sort_keys=False)
            files[f"{base}/prometheus.args"] = _args_file(
                stack, agent_args(stack, host, "/etc/prometheus/prometheus.yml"))
    if stack.alertmanager_ha:
        for i in range(len(stack.alertmanager_ha.instances)):
            files[f"{n.ALERTMANAGER_HA_DIR}/alertmanager-{i + 1}.args"] = _args_file(stack, alertmanager_args(stack, i))
    return files
