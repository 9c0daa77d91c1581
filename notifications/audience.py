"""Who sees which live topic on ``GET /api/v1/events``, by role:

    role        topics
    admin       everything
    backoffice  order
    manager     assignment, sync, device_stale  (every field user: no per-manager teams yet)
    others      nothing

An event addressed to users (``LiveEvent.user_ids``) reaches only them, within their topics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .live import LiveEvent

# None: every topic.
LIVE_TOPICS: dict[str, frozenset[str] | None] = {
    "admin": None,
    "backoffice": frozenset({"order"}),
    "manager": frozenset({"assignment", "sync", "device_stale"}),
}


class Viewer(Protocol):
    """The signed-in web user (``sync_gateway.auth.authenticate.Principal`` is one)."""

    @property
    def user_id(self) -> str: ...

    @property
    def role(self) -> str: ...


def live_filter(viewer: Viewer) -> Callable[[LiveEvent], bool]:
    """The filter of one viewer's live stream (see the module docstring)."""
    topics = LIVE_TOPICS.get(viewer.role, frozenset())
    me = viewer.user_id

    def accept(event: LiveEvent) -> bool:
        if event.user_ids is not None and me not in event.user_ids:
            return False
        return topics is None or event.topic in topics

    return accept
