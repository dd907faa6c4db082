"""The signed-in person as every console page sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opensure.audit import service as audit
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


async def record(
    conn: Any,
    viewer: Viewer,
    action: str,
    subject: str,
    *,
    subject_type: str | None = None,
    subject_id: int | str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """The audit event of the viewer's change, in the change's transaction; its subject type
    is the action's first word unless given."""
    await audit.record(
        conn,
        viewer.account_id,
        viewer.actor,
        action,
        subject_type=subject_type or action.split(".")[0],
        subject_id=subject_id,
        subject=subject,
        before=before,
        after=after,
    )
