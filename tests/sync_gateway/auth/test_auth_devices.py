"""DeviceStore against the real server: upserts, FCM token hygiene, batched activity."""

from __future__ import annotations

import asyncio

import pytest
from auth_fixtures import devices_fixture  # noqa: F401  (fixtures)

from sync_gateway.auth.devices import DeviceStore, apply_activity, new_device
from sync_gateway.auth.errors import InvalidInput
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases


async def test_register_then_update_is_one_document(
    devices: DeviceStore, couch: CouchClient, dbs: Databases
) -> None:
    doc, created = await devices.register("ana", "phone-1", "android", "tok-1")
    assert created
    assert doc["_id"] == "device:ana:phone-1"
    first_token_time = doc["fcm_token_updated_at"]
    doc, created = await devices.register("ana", "phone-1", "android", "tok-2", user_agent="App/2")
    assert not created
    assert (doc["fcm_token"], doc["user_agent"]) == ("tok-2", "App/2")
    assert doc["fcm_token_updated_at"] >= first_token_time
    stored = await devices.list_devices("ana")
    assert len(stored) == 1 and stored[0]["fcm_token"] == "tok-2"
    assert stored[0]["_rev"].startswith("2-")


async def test_same_token_again_keeps_its_time(devices: DeviceStore) -> None:
    first, _ = await devices.register("ana", "phone-1", "ios", "tok-1")
    again, _ = await devices.register("ana", "phone-1", "ios", "tok-1")
    assert again["fcm_token_updated_at"] == first["fcm_token_updated_at"]


async def test_devices_are_per_user(devices: DeviceStore) -> None:
    await devices.register("ana", "phone-1", "android", "a")
    await devices.register("ana", "pda-7", "pda", None)
    await devices.register("anabel", "phone-1", "ios", "b")  # a prefix of ana's ids must not leak
    assert [d["device_id"] for d in await devices.list_devices("ana")] == ["pda-7", "phone-1"]
    assert [d["user_id"] for d in await devices.list_devices("anabel")] == ["anabel"]


async def test_concurrent_registrations_of_one_device(devices: DeviceStore) -> None:
    await asyncio.gather(*(devices.register("ana", "p", "web", f"t{i}") for i in range(5)))
    stored = await devices.list_devices("ana")
    assert len(stored) == 1 and stored[0]["_rev"].startswith("5-")


@pytest.mark.parametrize(
    ("device_id", "platform", "token", "reason"),
    [
        ("", "android", None, "device_id"),
        ("a b", "android", None, "device_id"),
        ("x" * 129, "android", None, "device_id"),
        ("p1", "windows", None, "platform"),
        ("p1", "ios", "", "fcm_token"),
    ],
)
async def test_bad_devices_are_refused(
    devices: DeviceStore, device_id: str, platform: str, token: str | None, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        await devices.register("ana", device_id, platform, token)


async def test_clear_fcm_token_only_when_unchanged(devices: DeviceStore) -> None:
    await devices.register("ana", "p", "android", "old")
    await devices.register("ana", "p", "android", "new")
    assert await devices.clear_fcm_token("ana", "p", "old") is False
    assert (await devices.get_device("ana", "p"))["fcm_token"] == "new"  # type: ignore[index]
    assert await devices.clear_fcm_token("ana", "p", "new") is True
    assert (await devices.get_device("ana", "p"))["fcm_token"] is None  # type: ignore[index]


async def test_record_activity_upserts_many(devices: DeviceStore) -> None:
    await devices.register("ana", "phone", "android", "tok")
    written = await devices.record_activity(
        {
            ("ana", "phone"): {"last_pull": "2026-01-02T10:00:00.000Z", "user_agent": "PouchDB"},
            ("ana", "tablet"): {"last_push": "2026-01-02T10:00:01.000Z"},
            ("rui", "pda"): {"last_pull": "2026-01-02T09:00:00.000Z"},
        }
    )
    assert written == 3
    phone = await devices.get_device("ana", "phone")
    assert phone is not None
    assert (phone["fcm_token"], phone["platform"], phone["last_pull"], phone["user_agent"]) == (
        "tok",
        "android",
        "2026-01-02T10:00:00.000Z",
        "PouchDB",
    )
    tablet = await devices.get_device("ana", "tablet")
    assert tablet is not None and tablet["platform"] == "other"
    assert tablet["last_push"] == "2026-01-02T10:00:01.000Z" and tablet["last_pull"] is None
    # an older, late batch does not turn the clock back and writes nothing
    written = await devices.record_activity(
        {("ana", "phone"): {"last_pull": "2026-01-01T00:00:00.000Z"}}
    )
    assert written == 0
    assert (await devices.get_device("ana", "phone"))["last_pull"] == "2026-01-02T10:00:00.000Z"  # type: ignore[index]


async def test_record_activity_survives_concurrent_registration(devices: DeviceStore) -> None:
    await devices.register("ana", "phone", "android", "tok")
    updates = {("ana", "phone"): {"last_push": "2026-01-02T10:00:00.000Z"}}
    await asyncio.gather(
        devices.record_activity(updates), devices.register("ana", "phone", "android", "tok-2")
    )
    phone = await devices.get_device("ana", "phone")
    assert phone is not None
    assert (phone["fcm_token"], phone["last_push"]) == ("tok-2", "2026-01-02T10:00:00.000Z")


@pytest.mark.parametrize(
    ("before", "update", "changed", "after"),
    [
        ({}, {"last_pull": "2026-01-01T00:00:00.000Z"}, True, "2026-01-01T00:00:00.000Z"),
        (
            {"last_pull": "2026-01-02T00:00:00.000Z"},
            {"last_pull": "2026-01-01T00:00:00.000Z"},
            False,
            "2026-01-02T00:00:00.000Z",
        ),
        (
            {"last_pull": "2026-01-01T00:00:00.000Z"},
            {"last_pull": "2026-01-01T00:00:00.001Z"},
            True,
            "2026-01-01T00:00:00.001Z",
        ),
        ({"last_pull": "2026-01-01T00:00:00.000Z"}, {}, False, "2026-01-01T00:00:00.000Z"),
    ],
)
def test_apply_activity_moves_times_forward_only(
    before: dict[str, str], update: dict[str, str], changed: bool, after: str
) -> None:
    doc = new_device("ana", "p") | before
    assert apply_activity(doc, update) is changed
    assert doc["last_pull"] == after
