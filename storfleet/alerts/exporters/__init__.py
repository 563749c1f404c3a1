"""Alert exporters: Alertmanager (v2 API), a generic JSON webhook, Kafka.

Each reads the database (open alerts, the ``alert_event`` outbox after its own cursor),
never the receiving path, so one that is down delays only itself and catches up when it
comes back; ``runner.ExportRunner`` drives them in a thread of their own.
"""
