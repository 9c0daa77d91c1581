"""router/settle.py: the fan-in waits for a device's push to pause, never longer than its hold."""

from __future__ import annotations

import asyncio

from sync_gateway.router.settle import PushSettle


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_a_database_nobody_pushed_to_is_drained_at_once() -> None:
    settle = PushSettle(quiet_s=5.0, max_hold_s=10.0)
    started = now()
    await settle.settle("rep_alice")
    assert now() - started < 0.5


async def test_the_drain_waits_for_the_batch_in_flight_and_the_quiet_after_it() -> None:
    settle = PushSettle(quiet_s=0.3, max_hold_s=10.0)
    ended: list[float] = []

    async def batch() -> None:
        with settle.pushing("rep_alice"):
            await asyncio.sleep(0.5)  # the gateway screening and storing a batch
        ended.append(now())

    task = asyncio.create_task(batch())
    await asyncio.sleep(0)  # the batch is in flight
    assert settle.pending("rep_alice")
    await settle.settle("rep_alice")
    assert not settle.pending("rep_alice")
    await task
    assert ended, "settled while the batch was still in flight"
    assert now() - ended[0] >= 0.3 - 0.06
    settle.mark("rep_bob")  # another user's push is no reason to wait
    started = now()
    await settle.settle("rep_alice")
    assert now() - started < 0.2


async def test_a_push_that_goes_on_is_drained_after_the_hold() -> None:
    settle = PushSettle(quiet_s=0.3, max_hold_s=0.6)
    stop = asyncio.Event()

    async def phone() -> None:
        while not stop.is_set():
            settle.mark("rep_alice")
            await asyncio.sleep(0.05)

    task = asyncio.create_task(phone())
    await asyncio.sleep(0)  # its first batch is stored
    started = now()
    await settle.settle("rep_alice")
    held = now() - started
    stop.set()
    await task
    assert 0.6 - 0.06 <= held < 2.0
