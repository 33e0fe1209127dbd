"""What the renderers serialise, built once from the model: dashboards as Grafana JSON, the profiles'
recording rules and relabelings, the Prometheus and Alertmanager configs as data.

Build, then render: a renderer (stackgen/render/<artifact>.py) never imports another; what two of them
write (a dashboard in dashboards/ and in a k8s ConfigMap, say) is built here once and each serialises it.
"""
