"""Accounts and what belongs to them on the admin side: tokens, templates, staff, segments."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opensure.core.clock import utcnow
from opensure.db import Base, BigId, UTCDateTime


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # 0 = off; otherwise a recipient surveyed within this many days is not surveyed again.
    min_interval_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The console's link back to the system a request came from, e.g.
    # ``https://desk.example.com/tickets/{machine_id}`` (``{reference}`` also works).
    link_back_template: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The company name e-mails and survey pages show (``name`` when empty): ``name`` is the
    # operator's unique handle for the account (the CLI finds an account by it).
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The From display name of survey e-mails (the address stays the installation's
    # OPENSURE_MAIL_FROM, for SPF and DKIM) and their Reply-To address.
    sender_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reply_to: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # ``#rrggbb``: the survey pages' and HTML e-mails' accent.
    brand_colour: Mapped[str | None] = mapped_column(String(7), nullable=True)
    # 0 = off; otherwise one reminder e-mail this many days after the first (a survey's own
    # setting, when it has one, wins). The database's default only: an insert names no column
    # newer than the schema it runs on (tests write accounts at older migrations).
    reminder_after_days: Mapped[int] = mapped_column(Integer, server_default="0")


class AccountLogo(Base):
    """An account's logo, served publicly at ``core.branding.logo_path`` (by its hash)."""

    __tablename__ = "account_logos"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    # One of core.branding.LOGO_TYPES, found from the file's first bytes.
    content_type: Mapped[str] = mapped_column(String(20))
    bytes: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the token, hex; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so an operator can tell tokens apart without the secret.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Written at most once a minute per token and process, off the request's path
    # (api.negotiation.TokenCache): accurate to about a minute.
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EmailTemplate(Base):
    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))


class Staff(Base):
    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("account_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(30))


class SegmentOption(Base):
    __tablename__ = "segment_options"
    __table_args__ = (UniqueConstraint("segment_id", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(100))


class Unsubscribe(Base):
    __tablename__ = "unsubscribes"
    __table_args__ = (
        UniqueConstraint("account_id", "email"),
        Index("ix_unsubscribes_account_id_email_lookup", "account_id", "email"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Lower-cased address.
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
