"""Settings: one place for defaults, overridable by FRAUDSTREAM_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRAUDSTREAM_", extra="ignore")

    home: Path = Field(Path("var"), description="Where the demo keeps its data, models and database.")
    log_level: str = "INFO"
    log_json: bool = False
