"""The signed-in person as every console page sees them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Membership:
    account_id: int
    account_name: str
    role: str


@dataclass(frozen=True)
class Viewer:
    """The signed-in user, in the account the console shows."""

    user_id: int
    email: str
    account_id: int
    account_name: str
    role: str
    csrf_token: str
    memberships: tuple[Membership, ...]
    session: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
