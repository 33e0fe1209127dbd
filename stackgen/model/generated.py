"""Dashboards made from the bots (stackgen/data/dashboards.yaml): the fleet overview of a spec, and the
dashboard of a profile that brings none of its own. Both are spec values (`dashboards:` entries),
filled in as defaults, so `generate.py --effective` shows them and the spec may replace them by uid.

A panel is kept only where some bot provides every series its queries read: no panel stays dark.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from importlib import resources

from stackgen.model.profiles import Profile
from stackgen.spec.fields import Field
from stackgen.spec.loader import parse_yaml

DATA = ("data", "dashboards.yaml")
BOTS = "<bots>"
# Series every scraped bot has, whatever its profile.
ALWAYS = frozenset({"up", "ALERTS"})


@lru_cache(maxsize=1)
def _data() -> dict:
    display = "stackgen/" + "/".join(DATA)
    value, lines = parse_yaml(resources.files("stackgen").joinpath(*DATA).read_text(encoding="utf-8"), display)
    Field(value, (), lines, display).mapping(required=("fleet", "profile"))
    return value


def _reads(panel: dict) -> set[str]:
    from stackgen import promql
    return {m for q in panel.get("queries", []) for m in promql.selected_metrics(q["expr"].replace(", <filters>", ""))}


def _kept(rows: list[dict], provided: list[frozenset[str]]) -> list[dict]:
    """The rows' panels some bot feeds (every series read provided), rows left empty dropped."""
    out = []
    for row in rows:
        panels = [p for p in row["panels"] if "queries" not in p
                  or any(_reads(p) <= (have | ALWAYS) for have in provided)]
        if panels:
            out.append(dict(row, panels=panels))
    return out


def _heartbeat_query(job: str, profile: Profile) -> dict:
    hb = profile.heartbeat
    selector = f'{{job=~"$job", job="{job}"}}'
    if hb is None or hb.kind == "counter":      # no timestamp to read: the last successful scrape
        expr = f"time() - max by (job) (timestamp(up{selector} == 1))"
    else:
        metric = hb.metric + selector        # the bot's own name: profiles keep it (recording rules add the signals)
        expr = f"time() - max by (job) ({metric})" if hb.kind == "timestamp" else f"max by (job) ({metric})"
    return {"expr": expr, "legend": "{{job}}"}


def fleet(bots: list[tuple[str, Profile]]) -> tuple[dict, dict]:
    """The fleet overview of these (job, profile) bots, and its folder."""
    data = copy.deepcopy(_data()["fleet"])
    # Job names are slugs ([a-z0-9_.-]): a '.' is the only character a regex reads otherwise.
    jobs = "|".join(job.replace(".", "\\\\.") for job, _ in bots)
    folder = data.pop("folder")
    for row in data["rows"]:
        for panel in row["panels"]:
            if panel.pop("heartbeat", False):
                panel["queries"] = [_heartbeat_query(job, profile) for job, profile in bots]
            for query in panel.get("queries", []):
                query["expr"] = query["expr"].replace(BOTS, jobs)
    data["rows"] = _kept(data["rows"], [profile.provided_series() for _, profile in bots])
    return dict(data, folder=folder["name"]), folder


def for_profile(profile: Profile) -> dict | None:
    """The dashboard of a profile without dashboards: one panel per kind of signal it feeds."""
    data = copy.deepcopy(_data()["profile"])
    rows = _kept(data["rows"], [profile.provided_series()])
    if not rows:
        return None
    return {"uid": f"profile-{profile.name}"[:40], "title": profile.title, "folder": profile.name,
            "description": f"{profile.title}: {data['description']}", "rows": rows}
