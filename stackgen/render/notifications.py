"""What a person reads at 3 a.m.: the Alertmanager templates of each receiver kind.

Every message says, per alert: the summary first (it carries the humanized value), the
description, the bot and strategy it is about, the runbook and dashboard links; a resolved alert
says how long it lasted. Colours follow the severity (a warning is not red). E-mail subjects name
the alert, its severity and summary, never a dump of label values (`env` and `environment` both
say "paper"). The pieces are Alertmanager 0.25 Go templates, rendered by it (`make preview`).
"""
from __future__ import annotations

# Which alert this is about: the bot or service (its scrape job), its strategy and where it runs.
_ABOUT = (("job", ""), ("strategy", " · strategy "), ("source", " · source "), ("path", " · path "),
          ("instance", " · on "))


def _about(escape: str = "") -> str:
    """`TradingDrawdownHigh (warning) · topn-bot · strategy mid · on bot-1:9100`"""
    return "{{ .Labels.alertname }} ({{ .Labels.severity }}) · " + "".join(
        f"{{{{ with .Labels.{label} }}}}{text}{{{{ .{escape} }}}}{{{{ end }}}}" for label, text in _ABOUT)


_BOT = _about()
# How long a resolved alert fired, as "42m" or "1h5m" (Go prints durations as 42m0s).
_LASTED = ('{{ reReplaceAll "([hm])0s$" "$1" (printf "%v" (.EndsAt.Sub .StartsAt)) | reReplaceAll "h0m$" "h" }}')
# Marks from Unicode's basic plane: YAML emitters write astral ones (🔴) differently.
_SEVERITY_MARK = ('{{ if eq .Status "resolved" }}✅{{ else if eq .Labels.severity "critical" }}❗'
                  '{{ else if eq .Labels.severity "warning" }}⚠{{ else }}ℹ{{ end }}')
_HEAD = ('{{ if eq .Status "firing" }}[{{ .CommonLabels.severity | toUpper }}]{{ else }}[RESOLVED]{{ end }} '
         '{{ .CommonLabels.alertname }}{{ if gt (len .Alerts) 1 }} ({{ len .Alerts }} alerts){{ end }}')

SLACK = {
    "title": _HEAD,
    "title_link": '{{ (index .Alerts 0).Annotations.dashboard }}',
    # Slack's own colours: danger (red) for critical, warning (amber), good (green) once resolved.
    "color": ('{{ if eq .Status "resolved" }}good{{ else if eq .CommonLabels.severity "critical" }}danger'
              '{{ else if eq .CommonLabels.severity "warning" }}warning{{ else }}#439FE0{{ end }}'),
    "text": ('{{ range .Alerts }}' + _SEVERITY_MARK + ' '
             '{{ if eq .Status "firing" }}*{{ .Annotations.summary }}*'
             '{{ else }}*Resolved after ' + _LASTED + ':* {{ .Annotations.summary }}{{ end }}\n'
             '{{ .Annotations.description }}\n' + _BOT + '\n'
             '{{ with .Annotations.runbook_url }}<{{ . }}|Runbook>{{ end }}'
             '{{ with .Annotations.dashboard }} · <{{ . }}|Dashboard>{{ end }}\n{{ end }}'),
}

# Telegram's HTML mode: every value is escaped (`html`), or one "<" makes Telegram refuse the message.
TELEGRAM = {
    "message": ('{{ range .Alerts }}' + _SEVERITY_MARK + ' '
                '{{ if eq .Status "firing" }}<b>{{ .Annotations.summary | html }}</b>'
                '{{ else }}<b>Resolved after ' + _LASTED + ':</b> {{ .Annotations.summary | html }}{{ end }}\n'
                '{{ .Annotations.description | html }}\n<i>' + _about(" | html") + '</i>\n'
                '{{ with .Annotations.runbook_url }}<a href="{{ . | html }}">Runbook</a>{{ end }}'
                '{{ with .Annotations.dashboard }} · <a href="{{ . | html }}">Dashboard</a>{{ end }}\n\n{{ end }}'),
}

# The subject is text; the body is HTML rendered by html/template, which escapes every value itself.
EMAIL = {
    "headers": {"Subject": (_HEAD.replace("{{ if gt (len .Alerts) 1 }} ({{ len .Alerts }} alerts){{ end }}", "")
                            + ': {{ (index .Alerts 0).Annotations.summary }}'
                            '{{ if gt (len .Alerts) 1 }} (and {{ len .Alerts }} alerts in all){{ end }}')},
    "html": ('<html><body style="font-family: sans-serif">{{ range .Alerts }}'
             '<div style="border-left: 6px solid {{ if eq .Status "resolved" }}#2eb886'
             '{{ else if eq .Labels.severity "critical" }}#d62728{{ else if eq .Labels.severity "warning" }}#ff9f1c'
             '{{ else }}#439fe0{{ end }}; padding: 4px 12px; margin: 12px 0">'
             '<h3 style="margin: 4px 0">{{ if eq .Status "firing" }}{{ .Annotations.summary }}'
             '{{ else }}Resolved after ' + _LASTED + ': {{ .Annotations.summary }}{{ end }}</h3>'
             '<p>{{ .Annotations.description }}</p><p><i>' + _BOT + '</i></p>'
             '<p>{{ with .Annotations.runbook_url }}<a href="{{ . }}">Runbook</a>{{ end }}'
             '{{ with .Annotations.dashboard }} · <a href="{{ . }}">Dashboard</a>{{ end }}</p>'
             '<p style="color: #777">{{ .Labels.alertname }}, severity {{ .Labels.severity }}, since '
             '{{ .StartsAt.Format "2006-01-02 15:04 MST" }}</p></div>{{ end }}</body></html>'),
    "text": ('{{ range .Alerts }}{{ if eq .Status "firing" }}{{ .Annotations.summary }}'
             '{{ else }}Resolved after ' + _LASTED + ': {{ .Annotations.summary }}{{ end }}\n'
             '{{ .Annotations.description }}\n' + _BOT + '\n'
             '{{ with .Annotations.runbook_url }}Runbook: {{ . }}\n{{ end }}'
             '{{ with .Annotations.dashboard }}Dashboard: {{ . }}\n{{ end }}\n{{ end }}'),
}
