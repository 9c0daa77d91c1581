# ruff: noqa: F811  (fixtures imported from router_world are test parameters here)
"""What the router remembers per database (router/state.py): one object each, and a user whose
database is deleted leaves nothing behind, wherever the router keeps things."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

from router_world import events, router, seeded  # noqa: F401

from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases
from sync_gateway.router import Assignments, Router
from sync_gateway.router.checkpoints import PREFIX
from sync_gateway.router.state import RouterState


def mentions(obj: Any, names: set[str], path: str = "router") -> Iterator[str]:
    """Where in the router's own objects (not the index: who is assigned what is the shared
    databases' truth, not a database's state) one of ``names`` is kept."""
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(obj, path)]
    while stack:
        value, where = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, str):
            if any(name in value for name in names):
                yield where
        elif isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, f"{where} key"))
                stack.append((item, f"{where}[{key!r}]"))
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend((item, f"{where}[]") for item in value)
        elif isinstance(value, Assignments | asyncio.Lock | asyncio.Semaphore):
            continue
        elif type(value).__module__.startswith("sync_gateway.router"):
            fields = (
                {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
                if dataclasses.is_dataclass(value)
                else vars(value)
            )
            stack.extend((item, f"{where}.{name}") for name, item in fields.items())


async def test_a_deleted_user_database_leaves_no_state_behind(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    rep_bob = seeded.rep("bob")
    await router.run_once()
    # bob edits his note on a device: carried into fs_field, its echo not yet seen by the
    # fan-out; a push of his is being settled; his feed has a checkpoint
    note = await couch.get(rep_bob, "visit_note:vn-1")
    await couch.put(rep_bob, {**note, "text": "Replaced the gasket and the valve."})
    assert await router.fan_in.drain("bob")
    router.settle.mark(rep_bob)
    names = {"bob", rep_bob}
    before = list(mentions(router, names))
    for kept in ("state.reps", ".echoes", "settle._pushes", "checkpoints._revs"):
        assert any(kept in where for where in before), (kept, before)
    assert await couch.get_local(seeded.ops, PREFIX + rep_bob) is not None

    await couch.delete_db(rep_bob)
    await router.run_once()  # the rescan finds it gone

    assert router.users == ["alice"]
    assert list(mentions(router, names)) == []
    assert await couch.get_local(seeded.ops, PREFIX + rep_bob) is None
    assert router.status()["users"] == 1
    # and bob's note edit is in fs_field, where it went before the database was deleted
    assert (await couch.get(seeded.field, "visit_note:vn-1"))["text"].endswith("the valve.")


async def test_a_database_found_gone_mid_drain_is_dropped_in_the_same_way(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    await router.run_once()
    await couch.delete_db(seeded.rep("bob"))
    assert not await router.fan_in.drain("bob")  # its feed answers 404: dropped there
    assert router.users == ["alice"]
    assert list(mentions(router, {"bob", seeded.rep("bob")})) == []


def test_dropping_a_rep_forgets_its_echoes_in_every_shared_feed() -> None:
    state = RouterState(["fs_master", "fs_orders", "fs_field"])
    bob = state.add_rep("bob", "rep_bob")
    assert state.add_rep("bob", "rep_bob") is bob  # one object per database
    state.add_rep("alice", "rep_alice")
    state.shared["fs_orders"].remember_echo("order:1", "1-a", "bob")
    state.shared["fs_orders"].remember_echo("order:2", "1-b", "alice")
    state.shared["fs_field"].remember_echo("visit:1", "2-c", "bob")
    assert state.drop_rep("bob") is bob
    assert state.drop_rep("bob") is None
    assert set(state.reps) == {"alice"}
    assert state.shared["fs_orders"].echoes == {"order:2": ("1-b", "alice")}
    assert state.shared["fs_field"].echoes == {}


def test_an_echo_is_used_once_and_only_for_the_one_leaf_carried() -> None:
    feed = RouterState(["fs_orders"]).shared["fs_orders"]
    feed.remember_echo("order:1", "2-a", "bob")
    assert feed.take_echo("order:1", ["2-a", "2-b"]) is None  # a conflict: not only bob's
    feed.remember_echo("order:1", "2-a", "bob")
    assert feed.take_echo("order:1", ["2-a"]) == "bob"
    assert feed.take_echo("order:1", ["2-a"]) is None


def test_a_rep_row_is_an_echo_only_when_its_one_leaf_is_the_routers_copy() -> None:
    rep = RouterState([]).add_rep("bob", "rep_bob")
    rep.copied["order:1"] = "2-a"
    echo = {"id": "order:1", "changes": [{"rev": "2-a"}]}
    beside = {"id": "order:1", "changes": [{"rev": "2-a"}, {"rev": "2-b"}]}  # a device's leaf
    assert rep.is_echo(echo)
    assert not rep.is_echo(beside)
    assert not rep.is_echo({"id": "order:1", "changes": [{"rev": "3-c"}]})
    assert not rep.is_echo({"id": "order:2", "changes": [{"rev": "2-a"}]})
    assert rep.copied == {"order:1": "2-a"}  # looking is not reading: the drain still finds it
    assert rep.without_echoes([beside]) == [beside]
    assert rep.copied == {}


def test_a_checkpoint_read_counts_as_saved_then() -> None:
    rep = RouterState([]).add_rep("bob", "rep_bob")
    rep.resume(42, now=123.0)
    assert (rep.seq, rep.loaded, rep.saved_at) == (42, True, 123.0)


def test_releasing_a_rep_forgets_its_feed_but_keeps_its_locks() -> None:
    rep = RouterState([]).add_rep("bob", "rep_bob")
    rep.resume(42)
    rep.saved_at = 7.0
    rep.copied["order:1"] = "1-a"
    locks = (rep.drain_lock, rep.write_lock)
    rep.release()
    assert (rep.seq, rep.loaded, rep.saved_at, rep.copied) == (0, False, 0.0, {})
    assert (rep.drain_lock, rep.write_lock) == locks
