"""One settings object for every face of userops, read from USEROPS_* environment variables."""

from __future__ import annotations

import os
import secrets
from datetime import time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the data lives and which local day the metrics count in."""

    model_config = SettingsConfigDict(env_prefix="USEROPS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("./userops-data"),
        description="Folder for the embedded stores, quarantine files and exports.",
    )
    warehouse_url: str | None = Field(
        default=None,
        description="Ibis URL of the warehouse; default duckdb://<data_dir>/warehouse.duckdb.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the application database; default sqlite:///<data_dir>/userops.db.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that signs console sessions; default a random key kept in "
        "<data_dir>/secret_key (mode 0600).",
    )
    host: str = Field(default="127.0.0.1", description="Address `userops serve` listens on.")
    port: int = Field(default=8000, description="Port `userops serve` listens on.")
    scheduler: bool | None = Field(
        default=None,
        description="Run the daily jobs (level evaluation, points expiry) in the server; "
        "default: on for `userops serve`, off for an app built by `create_app` (tests).",
    )
    tags_refresh_at: str = Field(
        default="03:00",
        description="Local time (HH:MM) of the server's daily tag refresh; 'off' turns it off.",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA time zone whose local days bound every metric; "
        "naive times are read in it.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"USEROPS_TIMEZONE={value!r} is not a known IANA time zone") from exc
        return value

    @field_validator("tags_refresh_at")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        if value.strip().lower() != "off":
            try:
                time.fromisoformat(value.strip())
            except ValueError as exc:
                raise ValueError(f"USEROPS_TAGS_REFRESH_AT={value!r} is not HH:MM or off") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resolved_warehouse_url(self) -> str:
        return self.warehouse_url or f"duckdb://{(self.data_dir / 'warehouse.duckdb').resolve()}"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'userops.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def resolved_secret_key(self) -> str:
        """The configured key, else one generated once and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        path = self.ensure_data_dir() / "secret_key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings` instead)."""
    return Settings()
