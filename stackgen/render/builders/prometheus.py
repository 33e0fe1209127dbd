"""prometheus.yml as data: for the compose stack, a native run on 127.0.0.1, and (scrape_entry) the
agent-mode hosts."""
from __future__ import annotations

from stackgen import conventions as n
from stackgen.model.scrape import ScrapeJob
from stackgen.model.stack import Stack
from stackgen.render import hosts
from stackgen.render.builders import profile_rules
from stackgen.render.builders.remote_write import alertmanager_targets, remote_write_section


def basic_auth(service: str, secrets_dir: str = n.PROMETHEUS_SECRETS_MOUNT) -> dict:
    """How Prometheus logs in to Prometheus or Alertmanager: the password from a file (never inline)."""
    return {"username": n.WEB_AUTH_USER, "password_file": f"{secrets_dir}/{n.PASSWORD_FILES[service]}"}


def config(stack: Stack, deployment: str = hosts.COMPOSE, rules_dir: str = n.PROMETHEUS_RULES_MOUNT,
           ports: dict[str, int] | None = None, secrets_dir: str = n.PROMETHEUS_SECRETS_MOUNT) -> dict:
    g = stack.glob

    def at(target: str) -> str:
        return hosts.address(target, deployment, ports)

    scrape_configs = []
    if stack.scrape.self_monitoring:
        for service in ("prometheus", "alertmanager"):
            scrape_configs.append({"job_name": service, "basic_auth": basic_auth(service, secrets_dir),
                                   "static_configs": [{"targets": [at(f"{service}:{n.SERVICE_PORTS[service]}")]}]})
    for job in stack.scrape.jobs:
        scrape_configs.append(scrape_entry(stack, job, [at(t) for t in job.targets]))
    return {
        "global": {
            "scrape_interval": g.scrape_interval,
            "scrape_timeout": g.scrape_timeout,
            "evaluation_interval": g.evaluation_interval,
            "external_labels": {"project": g.project, "cluster": g.cluster, "environment": g.environment},
        },
        "rule_files": [f"{rules_dir}/*.rules.yml"],
        "alerting": {"alertmanagers": [{"basic_auth": basic_auth("alertmanager", secrets_dir), "static_configs": [
            {"targets": [at(t) for t in alertmanager_targets(stack)]}]}]},
        "scrape_configs": scrape_configs,
        **remote_write_section(stack),
    }


def scrape_entry(stack: Stack, job: ScrapeJob, targets: list[str]) -> dict:
    """A scrape job as the stack's Prometheus and every agent host scrape it (a bot's profile included)."""
    entry = job_entry(job, targets)
    bot = stack.bot(job.name) if job.profile else None
    relabel = profile_rules.relabel_configs(bot.profile, stack.api.path_label) if bot is not None else []
    if relabel:
        # The bot's own names, labels and per-exchange names mapped onto the signals (its profile).
        entry["metric_relabel_configs"] = relabel
    return entry


def job_entry(job: ScrapeJob, targets: list[str]) -> dict:
    entry = {"job_name": job.name, "metrics_path": job.metrics_path, "scheme": job.scheme,
             "static_configs": [{"targets": targets}]}
    if job.labels:
        entry["static_configs"][0]["labels"] = dict(job.labels)
    if job.interval:
        entry["scrape_interval"] = job.interval
    if job.timeout:
        entry["scrape_timeout"] = job.timeout
    if job.sample_limit:
        entry["sample_limit"] = job.sample_limit
    return entry
