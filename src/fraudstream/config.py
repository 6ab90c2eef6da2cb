"""Settings: one place for defaults, overridable by FRAUDSTREAM_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SCOPES", "Settings"]

#: What an API key may do; "admin" may do everything.
SCOPES = ("score", "read", "label", "admin")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRAUDSTREAM_", extra="ignore")

    home: Path = Field(Path("var"), description="Where the demo keeps its data, models and database.")
    log_level: str = "INFO"
    log_json: bool = False

    # model and state
    model_path: Path | None = Field(None, description="Model directory (fraudstream train --out).")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in `home`.")
    n_reasons: int = Field(3, ge=0, le=20)

    # HTTP API
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_keys: str = Field(
        "",
        description="Semicolon-separated KEY:scope,scope entries (scopes: score, read, label, admin); "
        "empty: no authentication.",
    )
    max_batch: int = Field(1_000, ge=1, description="Most transactions (or labels) in one request.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1_024)

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
        cls.parse_keys(value)
        return value

    @staticmethod
    def parse_keys(value: str) -> dict[str, frozenset[str]]:
        keys: dict[str, frozenset[str]] = {}
        for entry in filter(None, (e.strip() for e in value.split(";"))):
            key, sep, scopes = entry.partition(":")
            wanted = frozenset(s.strip() for s in scopes.split(",") if s.strip())
            if not sep or not key or not wanted or not wanted <= set(SCOPES):
                raise ValueError(
                    f"API key entry {entry[:4]}...: write KEY:scope,scope with scopes from {', '.join(SCOPES)}"
                )
            keys[key] = wanted
        return keys

    @cached_property
    def keys(self) -> dict[str, frozenset[str]]:
        return self.parse_keys(self.api_keys)

    @property
    def max_future(self) -> timedelta:
        return timedelta(hours=self.max_future_hours)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'fraudstream.db'}"
