"""Global settings and scrape jobs."""
from __future__ import annotations

import re
from dataclasses import dataclass

from stackgen.errors import Gather
from stackgen.spec.fields import Field, parse_duration, port_ok

_MAX_RETENTION = 100 * 365 * 86400
# TargetAbsent names every job in one expression; past ~1,000 jobs the PromQL parser's time and
# memory grow out of bounds (10,000 jobs: 17 GB). Many targets belong in one job instead.
MAX_JOBS = 1000
_TARGET = re.compile(r"^[A-Za-z0-9_.-]+:\d{1,5}$")


@dataclass(frozen=True)
class Global:
    project: str
    cluster: str
    environment: str
    scrape_interval: str
    scrape_timeout: str
    evaluation_interval: str
    retention: str
    runbook_url: str


@dataclass(frozen=True)
class ScrapeJob:
    name: str
    targets: tuple[str, ...]
    labels: tuple[tuple[str, str], ...] = ()
    interval: str = ""          # empty: the global scrape_interval
    timeout: str = ""           # empty: the global scrape_timeout
    metrics_path: str = "/metrics"
    scheme: str = "http"
    profile: str = ""           # a bot's job: the profile that maps its metrics onto the signals
    sample_limit: int = 0       # 0: none; else a scrape with more samples fails (PrometheusScrapeSampleLimitHit)


@dataclass(frozen=True)
class Scrape:
    self_monitoring: bool
    jobs: tuple[ScrapeJob, ...]     # enabled jobs only

    @property
    def target_label_names(self) -> tuple[str, ...]:
        return tuple(sorted({name for job in self.jobs for name, _ in job.labels}))


def read_global(field: Field) -> Global:
    f = field.mapping(required=("project", "cluster", "environment", "scrape_interval",
                                "scrape_timeout", "evaluation_interval", "retention", "runbook_url"))
    interval = f["scrape_interval"].duration(minimum=1)
    timeout = f["scrape_timeout"].duration(minimum=1)
    if parse_duration(timeout) > parse_duration(interval):
        raise f["scrape_timeout"].error(f"must not be longer than scrape_interval ({interval}), got {timeout}")
    url = f["runbook_url"].url(what="runbook URL")
    return Global(project=f["project"].slug("project name"), cluster=f["cluster"].slug("cluster name"),
                  environment=f["environment"].slug("environment name"), scrape_interval=interval,
                  scrape_timeout=timeout, evaluation_interval=f["evaluation_interval"].duration(minimum=1),
                  retention=f["retention"].duration(minimum=3600, maximum=_MAX_RETENTION,
                                                    why="Prometheus limits retention to 100y"),
                  runbook_url=url)


def _target(field: Field) -> str:
    target = field.string(pattern=_TARGET, what="target (host:port)")
    if not port_ok(target):
        raise field.error(f"port must be between 1 and 65535, got {target!r}")
    return target


def read_scrape(field: Field, glob: Global) -> Scrape:
    f = field.mapping(required=("self_monitoring",), optional=("jobs",))   # defaults: stackgen/spec/defaults.py
    jobs: list[ScrapeJob] = []
    names: set[str] = {"prometheus", "alertmanager"}
    items = f["jobs"].items() if "jobs" in f else []
    if len(items) > MAX_JOBS:
        raise f["jobs"].error(f"at most {MAX_JOBS} scrape jobs (got {len(items)}): list many targets "
                              "under one job instead")
    g = Gather()
    for item in items:
        read = g.run(read_job, item, glob, names)
        if read is not None and read[1]:
            jobs.append(read[0])
    g.done()
    self_monitoring = f["self_monitoring"].boolean()
    return Scrape(self_monitoring, tuple(jobs))


def read_job(item: Field, glob: Global, names: set[str], extra: tuple[str, ...] = ()) -> tuple[ScrapeJob, bool]:
    """One scrape job (also a bot entry, whose `extra` keys the caller reads); names collects job names."""
    j = item.mapping(required=("name", "targets"),
                     optional=("enabled", "interval", "timeout", "labels", "metrics_path", "scheme",
                               "sample_limit") + extra)
    name = j["name"].slug("job name")
    if name in names:
        raise j["name"].error(f"job name {name!r} is used twice (prometheus and alertmanager "
                              "are reserved for self-monitoring)")
    names.add(name)
    targets = tuple(_target(t) for t in j["targets"].items(min_items=1))
    interval = j["interval"].duration(minimum=1) if "interval" in j else ""
    timeout = j["timeout"].duration(minimum=1) if "timeout" in j else ""
    if parse_duration(timeout or glob.scrape_timeout) > parse_duration(interval or glob.scrape_interval):
        where = j["timeout"] if timeout else j["interval"]
        raise where.error(f"the scrape timeout ({timeout or glob.scrape_timeout}) must not be longer "
                          f"than the interval ({interval or glob.scrape_interval}); set a shorter "
                          "timeout for this job")
    labels = ()
    if "labels" in j:
        lf = j["labels"]
        label_fields = lf.mapping(optional=tuple(lf.value) if isinstance(lf.value, dict) else ())
        for key, value in label_fields.items():
            lf.child(key, key).name("label name")
            if key in ("job", "instance") or key.startswith("__"):
                raise value.error(f"label {key!r} is set by Prometheus itself")
            value.string()
        labels = tuple(sorted((k, v.value) for k, v in label_fields.items()))
    path = j["metrics_path"].string() if "metrics_path" in j else "/metrics"
    if not path.startswith("/"):
        raise j["metrics_path"].error(f"must start with '/', got {path!r}")
    scheme = j["scheme"].one_of(("http", "https")) if "scheme" in j else "http"
    enabled = j["enabled"].boolean() if "enabled" in j else True
    limit = int(j["sample_limit"].number(low=1, high=100_000_000, integer=True)) if "sample_limit" in j else 0
    return ScrapeJob(name, targets, labels, interval, timeout, path, scheme, sample_limit=limit), enabled
