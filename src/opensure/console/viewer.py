"""The signed-in person as every console page sees them."""

from __future__ import annotations

from dataclasses import dataclass

from opensure.audit.service import Actor, console_actor


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

    @property
    def actor(self) -> Actor:
        """This user as the audit log names who made a change."""
        return console_actor(self.email, self.user_id)
