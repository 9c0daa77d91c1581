"""Throttling of failed sign-ins: exponential back-off per client address and per user.

Every password check (``POST /api/v1/auth/token``, HTTP Basic on ``/sync`` and ``/api``, and
any later sign-in such as a cookie session at ``/sync/_session``) goes through
:meth:`SignInThrottle.check` before the password is verified and reports its outcome with
:meth:`SignInThrottle.failed` / :meth:`SignInThrottle.succeeded`;
``Authenticator.check_password`` does all three, so a new sign-in door only has to call it.

Three counters of failures, each with its own free allowance and exponential back-off::

    key                      free failures  then blocked for       cap     against
    (client address, user)   5              1 s, 2 s, 4 s, ...     300 s   one place guessing
                                                                           one account
    client address           30             1 s, 2 s, 4 s, ...     300 s   one place guessing
                                                                           many accounts
    user                     10             1 s, 2 s, 4 s, ...     60 s    many places guessing
                                                                           one account

A blocked key answers :class:`SignInThrottled` (HTTP 429 with ``Retry-After``) without looking
at the password, so while blocked neither a right nor a wrong guess teaches anything and no
argon2 time is spent. Attempts refused while blocked are not counted, so each failure extends a
block once and no wait exceeds its cap. A counter with no failure for ``forget_after_s`` (1 h)
is forgotten. A success clears the counter of its (address, user) pair, never the address's or
the user's (else an attacker could reset them by signing in to an account of their own).

Why an attacker cannot lock a real user out for long:

- an address the user signed in from successfully in the last ``trusted_for_s`` (30 days) is
  *trusted for that user*: only the pair's counter applies to it, not the address's nor the
  user's, so a phone or an office that has signed in before keeps working while someone
  elsewhere hammers the account (or, behind the same NAT, other accounts);
- elsewhere, the per-user block lasts at most 60 s after the last counted failure; only the
  attacker's own address and pair get the long (300 s) blocks;
- Bearer tokens are never throttled: a signed-in device does not sign in again until its token
  expires.

At worst a user signing in from an address they never used successfully waits up to 60 s per
attempt while a distributed attack on their account goes on; the attacker, from any one
address, gets 5 free guesses and then one per 300 s.

Addresses are the ASGI client address; IPv6 addresses count per /64 (one host usually holds a
whole /64). Behind a proxy, the proxy must pass the client address (uvicorn's
``FORWARDED_ALLOW_IPS``), or every client is one address. The structure lives in the process:
with N gateway processes an attacker gets N times the allowance (documented in
docs/security.md). Memory is bounded: at most ``max_entries`` keys of each kind (oldest
forgotten first).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from .errors import AuthError


class SignInThrottled(AuthError):
    """Too many failed sign-ins: retry after :attr:`retry_after_s` seconds (HTTP 429)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many failed sign-ins; retry in {retry_after_s} s "
            "(each further failure doubles the wait)"
        )
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Backoff:
    """``free`` failures without delay, then ``base_s`` doubling per failure, at most ``cap_s``."""

    free: int
    base_s: float
    cap_s: float

    def delay(self, failures: int) -> float:
        over = failures - self.free
        if over <= 0:
            return 0.0
        doubled: float = self.base_s * float(2 ** min(over - 1, 32))
        return min(doubled, self.cap_s)


PAIR_BACKOFF = Backoff(free=5, base_s=1.0, cap_s=300.0)
ADDRESS_BACKOFF = Backoff(free=30, base_s=1.0, cap_s=300.0)
USER_BACKOFF = Backoff(free=10, base_s=1.0, cap_s=60.0)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


def address_key(address: str | None) -> str:
    """The counted form of a client address: IPv6 per /64, IPv4 as is, unknown as ``?``."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class SignInThrottle:
    def __init__(
        self,
        *,
        pair: Backoff = PAIR_BACKOFF,
        address: Backoff = ADDRESS_BACKOFF,
        user: Backoff = USER_BACKOFF,
        forget_after_s: float = 3600.0,
        trusted_for_s: float = 30 * 86400.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pair_backoff = pair
        self.address_backoff = address
        self.user_backoff = user
        self.forget_after_s = forget_after_s
        self.trusted_for_s = trusted_for_s
        self.max_entries = max_entries
        self._clock = clock
        self._pairs: OrderedDict[Hashable, _Failures] = OrderedDict()
        self._addresses: OrderedDict[Hashable, _Failures] = OrderedDict()
        self._users: OrderedDict[Hashable, _Failures] = OrderedDict()
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()

    def check(self, user_id: str, address: str | None) -> None:
        """Raise SignInThrottled when this sign-in must wait; otherwise return."""
        now = self._clock()
        addr = address_key(address)
        waits = [self._remaining(self._pairs, (addr, user_id), self.pair_backoff, now)]
        if not self._is_trusted(user_id, addr, now):
            waits.append(self._remaining(self._addresses, addr, self.address_backoff, now))
            waits.append(self._remaining(self._users, user_id, self.user_backoff, now))
        wait = max(waits)
        if wait > 0:
            raise SignInThrottled(max(1, math.ceil(wait)))

    def failed(self, user_id: str, address: str | None) -> None:
        """Count a wrong password (or an unknown user) from ``address``."""
        now = self._clock()
        addr = address_key(address)
        self._count(self._pairs, (addr, user_id), now)
        self._count(self._addresses, addr, now)
        self._count(self._users, user_id, now)

    def succeeded(self, user_id: str, address: str | None) -> None:
        """A right password: trust this address for this user; clear their pair's counter."""
        addr = address_key(address)
        self._pairs.pop((addr, user_id), None)
        self._trusted.pop((user_id, addr), None)
        self._trusted[(user_id, addr)] = self._clock() + self.trusted_for_s
        self._bound(self._trusted)

    def _is_trusted(self, user_id: str, addr: str, now: float) -> bool:
        until = self._trusted.get((user_id, addr))
        if until is None:
            return False
        if now >= until:
            del self._trusted[(user_id, addr)]
            return False
        return True

    def _remaining(
        self, table: OrderedDict[Hashable, _Failures], key: Hashable, backoff: Backoff, now: float
    ) -> float:
        entry = table.get(key)
        if entry is None:
            return 0.0
        if now - entry.last >= self.forget_after_s:
            del table[key]
            return 0.0
        return entry.last + backoff.delay(entry.count) - now

    def _count(self, table: OrderedDict[Hashable, _Failures], key: Hashable, now: float) -> None:
        entry = table.pop(key, None)
        if entry is None or now - entry.last >= self.forget_after_s:
            entry = _Failures()
        entry.count += 1
        entry.last = now
        table[key] = entry  # moved to the end: the most recent
        self._bound(table)

    def _bound(self, table: OrderedDict[Any, Any]) -> None:
        while len(table) > self.max_entries:
            table.popitem(last=False)
