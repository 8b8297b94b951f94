"""Who may see an object that belongs to a student."""

from __future__ import annotations

import uuid

from medgrader.auth.users import User


def may_see(user: User, owner_id: uuid.UUID) -> bool:
    """The owner and admins. To anyone else the object does not exist: callers answer 404,
    not 403, so that another student's ids reveal nothing."""
    return owner_id == user.id or user.is_admin
