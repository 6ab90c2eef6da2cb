"""Settings: one place for defaults, overridable by FRAUDSTREAM_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudstream.keys import parse_keys

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRAUDSTREAM_", extra="ignore")

    home: Path = Field(Path("var"), description="Where the demo keeps its data, models and database.")
    log_level: str = "INFO"
    log_json: bool = False

    # model and state
    model_path: Path | None = Field(
        None, description="Model directory (fraudstream train --out); without it, the registry's champion is served."
    )
    models: Path | None = Field(None, description="The model registry (default: <home>/models).")
    challenger: str | None = Field(
        None, description="A registered version to score every batch in shadow (set in the database at start)."
    )
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in `home`.")
    n_reasons: int = Field(3, ge=0, le=20)

    # rules
    rules: Path | None = Field(
        None, description="A ruleset file (YAML) to put in force at start, unless the stored one is the same."
    )
    case_outcomes: tuple[Literal["review", "decline"], ...] = Field(
        ("review",),
        description='Outcomes whose payments open cases (JSON list, e.g. ["review", "decline"]).',
    )
    case_sla_hours: float = Field(24.0, gt=0, description="How long a case may stay open before it is overdue.")
    rules_refresh_s: float = Field(
        1.0, gt=0, description="How often a process looks for a new ruleset or list change (at a batch boundary)."
    )

    # HTTP API
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_keys: str = Field(
        "",
        description="Semicolon-separated KEY:scope,scope entries (scopes: score, read, label, metrics, admin); "
        "KEY may be sha256:<hex digest of the key>; empty: no authentication (loopback only).",
    )
    key_requests_per_s: float = Field(1_000.0, gt=0, description="Requests a second one API key may make.")
    docs: bool | None = Field(
        None, description="Serve the OpenAPI docs (/docs); default: only while no API keys are configured."
    )
    failed_keys_per_minute: float = Field(
        30.0, gt=0, description="Wrong or missing keys a minute a client may send before it gets 429."
    )
    max_batch: int = Field(1_000, ge=1, description="Most transactions (or labels) in one request.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1_024)
    trusted_proxies: str = Field(
        "",
        description="Addresses of reverse proxies whose X-Forwarded-For names the client (comma-separated; "
        "'*' trusts any). Empty: the connection's own address is the client's.",
    )
    scoring_threads: int = Field(2, ge=1, description="Threads deciding API requests off the event loop.")
    max_waiting_requests: int = Field(
        64, ge=1, description="Requests waiting for a scoring thread before more get 503 and Retry-After."
    )

    # what arrives over the wire
    max_future_hours: float = Field(
        24.0,
        gt=0,
        description="How far ahead of this machine's clock a payment's or label's time may be (clock skew); "
        "simulated traffic that runs faster than the clock needs more.",
    )

    # feature state: in memory unless a Redis URL is given
    redis_url: str | None = Field(None, description="redis://host:port/db for shared feature state.")
    state_prefix: str = Field("fs", description="Key prefix of the feature state in Redis.")
    dedup_ttl_hours: float = Field(168.0, gt=0, description="How long a redelivered event is recognised.")

    # stream source
    source: Literal["memory", "kafka"] = "memory"
    kafka_brokers: str = "localhost:9092"
    kafka_group: str = "fraudstream"
    kafka_transactions_topic: str = "transactions"
    kafka_labels_topic: str = "labels"
    kafka_decisions_topic: str = "decisions"
    kafka_dead_letter_topic: str = "transactions.dlq"
    kafka_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Extra librdkafka settings for every client (JSON), e.g. security."
    )
    kafka_consumer_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Extra librdkafka settings for consumers (JSON), e.g. group timeouts."
    )

    # stream worker
    worker_batch_size: int = Field(500, ge=1)
    worker_max_wait_ms: float = Field(5.0, ge=0.0)
    max_message_bytes: int = Field(64 * 1024, ge=256)

    @field_validator("api_keys")
    @classmethod
    def _valid_keys(cls, value: str) -> str:
        parse_keys(value)
        return value

    @cached_property
    def keys(self) -> dict[str, frozenset[str]]:
        """Key digest -> scopes (see `fraudstream.keys`)."""
        return parse_keys(self.api_keys)

    @property
    def max_future(self) -> timedelta:
        return timedelta(hours=self.max_future_hours)

    @property
    def models_dir(self) -> Path:
        return self.models or self.home / "models"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'fraudstream.db'}"
