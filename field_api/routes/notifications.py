"""What was pushed to whom: the notification outbox for support (admin, manager, back office).

GET /api/v1/notifications?user_id=&status=&limit=

    {"items": [{"id": "outbox:<id>", "user_id", "kind", "state", "attempts", "last_error",
                "delivered", "sender": "fcm" | "log" | null, "notification_id", "dedupe_key",
                "title", "body", "data_only", "devices_done", "created_at", "updated_at",
                "next_attempt_at", "sent_at"}, ...]}

Most recently changed first. ``status`` is an outbox state: pending, sending, sent, failed
(waiting for a retry) or dead (given up; ``last_error`` says why). ``sender`` "log" means push
was disabled (no Firebase credentials) and the message went to the service log.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from sync_gateway.auth.authenticate import Principal

from .. import notify
from ..deps import RuntimeDep, ViewsReadyDep, require_roles

router = APIRouter(prefix="/api/v1", tags=["notifications"])

Reader = Annotated[Principal, Depends(require_roles("admin", "manager", "backoffice"))]
State = Literal["pending", "sending", "sent", "failed", "dead"]


class NotificationPage(BaseModel):
    items: list[dict[str, Any]]


@router.get("/notifications")
async def list_notifications(
    _: Reader,
    rt: RuntimeDep,
    ready: ViewsReadyDep,
    user_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: State | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> NotificationPage:
    """Outbox entries: what was sent to whom, its state, attempts and last error."""
    items = await notify.list_outbox(rt, ready, user_id=user_id, status=status, limit=limit)
    return NotificationPage(items=items)
