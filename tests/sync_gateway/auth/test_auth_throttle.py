"""The sign-in throttle on a clock of its own: back-off, its caps, and no long lockout."""

from __future__ import annotations

import pytest

from sync_gateway.auth.throttle import (
    ADDRESS_BACKOFF,
    PAIR_BACKOFF,
    USER_BACKOFF,
    Backoff,
    SignInThrottle,
    SignInThrottled,
    address_key,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_of(throttle: SignInThrottle, user: str, address: str) -> int:
    """0 when the sign-in may go ahead, else its Retry-After."""
    try:
        throttle.check(user, address)
    except SignInThrottled as exc:
        return exc.retry_after_s
    return 0


@pytest.mark.parametrize(
    ("backoff", "failures", "delay"),
    [
        (PAIR_BACKOFF, 5, 0),
        (PAIR_BACKOFF, 6, 1),
        (PAIR_BACKOFF, 7, 2),
        (PAIR_BACKOFF, 9, 8),
        (PAIR_BACKOFF, 14, 256),
        (PAIR_BACKOFF, 15, 300),
        (PAIR_BACKOFF, 10_000, 300),
        (ADDRESS_BACKOFF, 30, 0),
        (ADDRESS_BACKOFF, 31, 1),
        (USER_BACKOFF, 10, 0),
        (USER_BACKOFF, 13, 4),
        (USER_BACKOFF, 100, 60),
    ],
)
def test_backoff_doubles_up_to_its_cap(backoff: Backoff, failures: int, delay: float) -> None:
    assert backoff.delay(failures) == delay


def test_wrong_passwords_from_one_address_back_off_exponentially() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock=clock)
    waits = []
    for _ in range(9):
        assert wait_of(throttle, "ana", "10.0.0.1") == 0  # the attempt may go ahead ...
        throttle.failed("ana", "10.0.0.1")  # ... and fails
        waits.append(wait_of(throttle, "ana", "10.0.0.1"))
        clock.now += waits[-1]  # the attacker waits exactly as told
    assert waits == [0, 0, 0, 0, 0, 1, 2, 4, 8]
    throttle.failed("ana", "10.0.0.1")
    assert wait_of(throttle, "ana", "10.0.0.1") == 16
    clock.now += 10
    assert wait_of(throttle, "ana", "10.0.0.1") == 6  # asking while blocked does not extend it


def test_a_distributed_attack_does_not_lock_out_a_known_address_and_others_wait_at_most_60_s() -> (
    None
):
    clock = Clock()
    throttle = SignInThrottle(clock=clock)
    throttle.succeeded("ana", "192.0.2.7")  # Ana's phone signed in from here yesterday
    clock.now += 86400
    for n in range(200):  # 200 addresses, one guess each, as fast as allowed
        address = f"203.0.113.{n}"
        wait = wait_of(throttle, "ana", address)
        clock.now += wait
        throttle.failed("ana", address)
    # Ana's known address is not held back at all
    assert wait_of(throttle, "ana", "192.0.2.7") == 0
    # a new address waits, but never more than the per-user cap
    assert 0 < wait_of(throttle, "ana", "198.51.100.250") <= 60
    # and the lockout ends a minute after the attack stops
    clock.now += 60
    assert wait_of(throttle, "ana", "198.51.100.250") == 0


def test_one_address_guessing_many_accounts_is_blocked_but_not_the_users_elsewhere() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock=clock)
    for n in range(31):
        throttle.failed(f"user{n}", "10.9.9.9")
    assert wait_of(throttle, "victim", "10.9.9.9") == 1
    assert wait_of(throttle, "victim", "10.1.1.1") == 0  # the victim elsewhere is not blocked


def test_success_clears_only_its_own_pair() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock=clock)
    for _ in range(12):
        clock.now += 100
        throttle.failed("ana", "10.0.0.1")
    throttle.succeeded("mallory", "10.0.0.1")  # the attacker's own account from the same place
    assert wait_of(throttle, "ana", "10.0.0.1") > 0
    throttle.succeeded("ana", "10.0.0.2")  # Ana elsewhere: her pair there, not the attacker's
    assert wait_of(throttle, "ana", "10.0.0.1") > 0


def test_counters_are_forgotten_after_an_hour_without_failure() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock=clock)
    for _ in range(20):
        throttle.failed("ana", "10.0.0.1")
    assert wait_of(throttle, "ana", "10.0.0.1") == 300
    clock.now += 3600
    assert wait_of(throttle, "ana", "10.0.0.1") == 0
    throttle.failed("ana", "10.0.0.1")
    assert wait_of(throttle, "ana", "10.0.0.1") == 0  # counting from zero again


def test_memory_is_bounded() -> None:
    throttle = SignInThrottle(clock=Clock(), max_entries=100)
    for n in range(10_000):
        throttle.failed(f"user{n}", f"10.0.{n // 256}.{n % 256}")
        throttle.succeeded(f"user{n}", f"10.1.{n // 256}.{n % 256}")
    sizes = [len(t) for t in (throttle._pairs, throttle._addresses, throttle._users)]
    assert max(sizes) <= 100 and len(throttle._trusted) <= 100


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        (None, "?"),
        ("not an ip", "not an ip"),
    ],
)
def test_address_keys(address: str | None, key: str) -> None:
    assert address_key(address) == key
