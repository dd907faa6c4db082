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

    # Signs survey form tokens; when unset, a random key is made once and kept in the database
    # so that every process of an installation shares it.
    secret_key: str | None = None
    # Run a dispatcher inside the API process (the embedded shape); `serve` sets this.
    run_dispatcher: bool = False
    dispatch_batch_size: int = Field(default=200, ge=1, le=5000)
    # SMTP connections one dispatcher keeps open and sends over in parallel.
    smtp_connections: int = Field(default=8, ge=1, le=100)
    # An idle dispatcher keeps its SMTP connections this long before closing them (servers
    # wait at least 5 minutes for a client's next command, RFC 5321 §4.5.3.2.7).
    smtp_idle_seconds: float = Field(default=30.0, ge=0)
    # Temporary failures are retried after retry_base_seconds, doubling up to retry_max_seconds,
    # until retry_window_seconds have passed since the first failure; then the request is not_sent.
    retry_base_seconds: float = Field(default=60.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    retry_window_seconds: float = Field(default=86400.0, ge=0)
    # Set when a reverse proxy fronts the API (serve --forwarded-allow-ips): only then are its
    # X-Forwarded-Host/-Proto headers used for Link and Location URLs.
    forwarded_allow_ips: str | None = None
    # Requests per token per window (0 = no limit); shared through Redis when it is configured.
    rate_limit: int = Field(default=5000, ge=0)
    rate_limit_window_seconds: int = Field(default=3600, ge=1)
    redis_url: str | None = None
    # "text" or "json" (one JSON object per log line, for log shippers).
    log_format: str = Field(default="text", pattern="^(text|json)$")
    # How long a dispatcher's claim on a request lasts before another may take it over.
    lease_seconds: float = Field(default=300.0, gt=0)
    # Webhooks: how long a dispatcher's claim on an event lasts (keep it longer than an
    # attempt's 15 s, or an event may be sent twice at once), and how many deliveries one
    # dispatcher makes at once.
    webhook_lease_seconds: float = Field(default=60.0, gt=0)
    webhook_concurrency: int = Field(default=8, ge=1)
    # A request body not received in full within this many seconds is answered 408, so a
    # client that stalls half-way through its body holds nothing for longer.
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    # A connection whose request headers are not complete this many seconds after it opened
    # (or after the request's first byte) is answered 408 and closed (opensure.ops.slowclients).
    header_timeout_seconds: float = Field(default=30.0, gt=0)

    # Bounces (docs/bounces.md). Each e-mail's envelope sender becomes
    # ``local+{request id}-{tag}@domain`` of this address (VERP); unset: OPENSURE_MAIL_FROM.
    bounce_address: str | None = None
    # Where bounces arrive, read by the dispatcher: ``maildir:PATH`` or
    # ``imaps://user:pass@host[:port]/FOLDER`` (``imap://`` with STARTTLS); unset: none is read.
    bounce_mailbox: str | None = None
    bounce_poll_seconds: float = Field(default=60.0, gt=0)
    # An address that bounced for good is not surveyed again (by the same account) for this
    # many days: not_sent "recipient bounced recently". 0 turns the rule off.
    bounce_suppression_days: int = Field(default=30, ge=0)
    # Provider notifications at /hooks/bounces/{provider}: Postmark's basic-auth password (or
    # ?token=), the SNS topics whose SES notifications are accepted (comma-separated ARNs),
    # Mailgun's webhook signing key, SendGrid's verification key (base64 DER public key).
    bounce_webhook_secret: str | None = None
    bounce_sns_topic_arns: str | None = None
    bounce_mailgun_signing_key: str | None = None
    bounce_sendgrid_public_key: str | None = None

    # Console sessions end after this long without a request, and this long after sign-in.
    session_idle_minutes: int = Field(default=12 * 60, ge=1)
    session_max_hours: int = Field(default=14 * 24, ge=1)

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
