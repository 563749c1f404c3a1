"""Settings of the alerts work, read like storfleet's own (CLI > ``STORFLEET_*`` env >
the ``STORFLEET_CONFIG`` TOML file > defaults).

Kept beside ``storfleet.config.Settings`` rather than in it so the alerts can grow their
knobs without touching a file every team edits; ``for_settings`` carries over anything
``Settings`` itself defines (``alert_poll_interval_s``...).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from storfleet.config import Settings, _TomlFileSource

DEFAULT_TRAP_HOST = "127.0.0.1"
DEFAULT_TRAP_PORT = 1162


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORFLEET_", extra="ignore")

    # The trap receiver. Receiving from real arrays: --trap-host 0.0.0.0 --trap-port 162
    # (with CAP_NET_BIND_SERVICE or as root).
    trap_host: str = DEFAULT_TRAP_HOST
    trap_port: int = DEFAULT_TRAP_PORT
    trap_queue_size: int = 200_000  # traps waiting to be stored; beyond: dropped, counted
    trap_batch_size: int = 5_000  # traps per write transaction at most
    trap_socket_buffer: int = 16 * 1024 * 1024  # SO_RCVBUF: absorbs bursts
    sources_reload_s: float = 1.0  # how often the receiver checks alert sources changed
    max_sequence_numbers: int = 1000  # kept per stored alert (the newest); count keeps all

    # Rules (evaluated after every sync).
    capacity_warning_pct: float = 80.0
    capacity_critical_pct: float = 90.0
    unreachable_syncs: int = 3  # consecutive failed syncs before "storage unreachable"

    # Exporters. None: off.
    alertmanager_url: str | None = None  # e.g. http://127.0.0.1:9093
    alertmanager_resend_s: float = 30.0  # open alerts re-sent at least this often
    alertmanager_ends_after_s: float = 180.0  # endsAt of an open alert: now + this
    alert_webhook_url: str | None = None
    alert_webhook_timeout_s: float = 5.0
    alert_webhook_retry_max_s: float = 60.0
    alert_kafka_bootstrap_servers: str | None = None  # default: kafka_bootstrap_servers
    alert_kafka_topic: str = "storfleet.alerts"
    alert_event_retention_s: float = 7 * 86400.0
    export_poll_s: float = 1.0  # how often exporters look for new events
    export_headers: dict[str, str] = Field(default_factory=dict, repr=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))


def for_settings(settings: Settings, **overrides: Any) -> AlertSettings:
    """The alert settings, with explicit overrides (CLI flags) first."""
    values = {k: v for k, v in overrides.items() if v is not None}
    alerts = AlertSettings(**values)
    if alerts.alert_kafka_bootstrap_servers is None and settings.kafka_bootstrap_servers:
        alerts.alert_kafka_bootstrap_servers = settings.kafka_bootstrap_servers
    return alerts
