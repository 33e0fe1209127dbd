"""One backtest of one spec: its rules replayed over the history, read back as per-alert rows."""
from __future__ import annotations

from dataclasses import dataclass

import yaml

from stackgen import conventions as n
from stackgen import promql
from stackctl.backtest import episodes as ep
from stackctl.backtest.engine import Replay, ScratchStore
from stackctl.backtest.notifications import notifications
from stackctl.backtest.report import AlertRow, Result
from stackgen.model.stack import Stack
from stackgen.render import alert_rules
from stackgen.render.builders import alertmanager
from stackgen.spec.fields import parse_duration

# History read before the range starts, so the first evaluations' windows (rate(...[5m]),
# increase(...[1h])) are full.
LOOKBACK = 3600.0
REPLAY_OUTPUT = ("ALERTS", "ALERTS_FOR_STATE")      # what vmalert writes besides the recorded series


@dataclass(frozen=True)
class Plan:
    """What a spec replays: rule documents by domain, the Alertmanager config, the step."""
    label: str
    documents: dict[str, dict]          # domain -> rule-file document
    alertmanager: dict                  # the generated alertmanager.yml, as a document
    interval: str

    @classmethod
    def of(cls, stack: Stack, label: str) -> Plan:
        files = alert_rules.render(stack)
        prefix, suffix = f"{n.RULES_DIR}/", ".rules.yml"
        documents = {path.removeprefix(prefix).removesuffix(suffix): yaml.safe_load(text)
                     for path, text in files.items()}
        return cls(label, documents, alertmanager.config(stack), stack.glob.evaluation_interval)

    def rules(self):
        for domain, document in self.documents.items():
            for group in document.get("groups") or []:
                for rule in group.get("rules") or []:
                    yield domain, rule

    def raw_metrics(self) -> list[str]:
        """Every series the rules read that no rule records: what the history must provide. The
        source's own ALERTS are never copied: the replay writes this spec's."""
        recorded = {r["record"] for _, r in self.rules() if "record" in r} | set(REPLAY_OUTPUT)
        read = [m for _, r in self.rules() for m in promql.selected_metrics(r["expr"])]
        return [m for m in dict.fromkeys(read) if m and m not in recorded]

    def alerts(self) -> list[tuple[str, str, str]]:
        """(alertname, severity, domain) of every alerting rule, in file order."""
        keys = [(r["alert"], (r.get("labels") or {}).get("severity", ""), d) for d, r in self.rules() if "alert" in r]
        return list(dict.fromkeys(keys))


def replay(plan: Plan, store: ScratchStore, start: float, end: float) -> tuple[Result, list[ep.Episode]]:
    """Replays the plan into the store (which holds the history) and reads the verdicts back."""
    seconds = Replay(tuple(plan.documents.values()), start, end, plan.interval).run(store, promql.selected_metrics)
    step = parse_duration(plan.interval)
    episodes = ep.from_series(store.export('{__name__="ALERTS"}', start, end + step), step)
    sent = notifications(plan.alertmanager, episodes)
    rows = []
    for alertname, severity, domain in plan.alerts():
        mine = [e for e in episodes if (e.alertname, e.severity) == (alertname, severity)]
        named = [(t, receiver) for t, receiver, eps in sent
                 if any((e.alertname, e.severity) == (alertname, severity) for e in eps)]
        rows.append(AlertRow(alertname, severity, domain, tuple(mine), len(named),
                             tuple(sorted({receiver for _, receiver in named}))))
    return Result(plan.label, start, end, tuple(rows), seconds), episodes

