"""One settings object, read from the environment (prefix ``OPENSURE_``) and a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENSURE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./opensure.db"
    mail_url: str = "maildir:./outbox"
    public_url: str = "http://127.0.0.1:8000"
    mail_from: str = "feedback@localhost"
    dispatch_interval: float = Field(default=1.0, gt=0)
    # How long a token lookup may be served from the in-process cache; a revoked token
    # stops working at most this many seconds later.
    token_cache_seconds: float = Field(default=5.0, ge=0, le=5.0)

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
