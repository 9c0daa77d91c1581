"""Helpers for the orders and team tests: a service with a back-office user, a manager, reps.

``orders_world(service)`` logs in the admin and adds ``bo`` (backoffice), ``max`` (manager),
``alice`` and ``carol`` (reps), ``bob`` (engineer). ``order(...)`` builds a valid order.
"""

from __future__ import annotations

from typing import Any

from mobile_schema import sample, sample_order_line
from support.world import World, add_user, login


async def orders_world(service: Any) -> World:
    admin = await login(service.url, "admin", "admin-pass")
    w = World(service, admin)
    for user_id, role in (
        ("bo", "backoffice"),
        ("max", "manager"),
        ("alice", "rep"),
        ("carol", "rep"),
        ("bob", "engineer"),
    ):
        await add_user(w, user_id, role)
    return w


def order(
    order_id: str,
    rep: str = "alice",
    *,
    status: str = "submitted",
    account: str = "account:cafe-nord",
    lines: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """A valid v2 order; submitted orders get a ``submitted_at``."""
    fields: dict[str, Any] = {
        "rep_id": rep,
        "status": status,
        "account_id": account,
        "lines": lines if lines is not None else [sample_order_line()],
    }
    if status != "draft":
        fields["submitted_at"] = "2024-05-01T08:31:00.000Z"
    fields.update(kw)
    return sample("order", **{"_id": f"order:{order_id}"}, **fields)
