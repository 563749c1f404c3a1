"""Settings: one object for every role, from a file and the environment.

Precedence: explicit arguments (CLI flags) > environment (``STORFLEET_*``) > the settings
file (``STORFLEET_CONFIG``, TOML) > defaults. Every period is a setting in seconds so tests
can run them fast.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by STORFLEET_CONFIG (if any)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("STORFLEET_CONFIG")
        if not path:
            return {}
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        return data.get("storfleet", data)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORFLEET_", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file storfleet.db in data_dir"
    )
    host: str = "127.0.0.1"
    port: int = 8190

    # Secrets at rest (see storfleet.secrets).
    secret_key: str | None = Field(default=None, repr=False)
    secret_key_file: Path | None = None

    # Periods, in seconds.
    sync_interval_s: float = 900.0
    alert_poll_interval_s: float = 300.0
    collect_interval_s: float = 300.0
    lease_s: float = 120.0
    lock_s: float = 15.0
    scheduler_tick_s: float = 1.0
    change_retention_s: float = 30 * 86400.0
    alert_retention_s: float = 90 * 86400.0
    driver_call_timeout_s: float = 120.0
    driver_connect_timeout_s: float = 60.0

    # Embedded job pool.
    workers: int = 4

    # Scale-out (storfleet api / worker / scheduler / traps; see storfleet.jobs.celery).
    # redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//
    broker_url: str | None = Field(default=None, repr=False)
    scheduler_lease_s: float = 10.0  # a standby scheduler takes over after this at most
    queue_timeout_s: float = 600.0  # a queued job not picked up by then is queued again
    sync_time_limit_s: float = 3600.0  # per job kind: a run is stopped after this
    collect_time_limit_s: float = 900.0
    poll_time_limit_s: float = 300.0

    log_level: str = "INFO"

    # Performance metrics (storfleet.metrics): collection, history, exporters.
    collect_retry_s: float = 30.0  # first retry of a failed window; doubles up to ...
    collect_retry_max_s: float = 600.0  # ... this (and never past a quarter of retention)
    collect_max_window_s: float = 3600.0  # a backfill is split in driver calls this long
    capabilities_refresh_s: float = 3600.0
    metrics_raw_retention_s: float = 6 * 3600.0  # raw samples; then 5-min and 1-h rollups
    metrics_history_s: float = 7 * 86400.0  # the 1-h rollups, i.e. history in all
    metrics_detail_top_n: int = 10  # per storage and volume/disk/filesystem on /metrics
    metrics_stale_s: float = 900.0  # /metrics drops a series not refreshed for this long
    metrics_open: bool = False  # serve GET /metrics without a token
    kafka_bootstrap_servers: str | None = None  # "host:port,..."; None: no Kafka export
    kafka_topic: str = "storfleet.metrics"
    kafka_buffer_samples: int = 2_000_000  # samples kept while Kafka is away; then lost
    # librdkafka options added to the producer's (security.protocol, sasl.*, ssl.* ...).
    kafka_producer_config: dict[str, Any] = Field(default_factory=dict, repr=False)

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

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'storfleet.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
