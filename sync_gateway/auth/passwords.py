"""Password hashing with argon2id (argon2-cffi), encoded as PHC strings.

A stored hash looks like ``$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>``: the parameters travel
with the hash, so raising them later only needs :meth:`Passwords.needs_rehash` at the next
successful sign-in. Hashing is deliberately slow (tens to hundreds of milliseconds) and CPU-bound,
so the async callers run it in a thread (:meth:`Passwords.averify`, :meth:`Passwords.ahash`).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 8


class Passwords:
    """Hash and verify passwords; the default parameters are argon2-cffi's (RFC 9106 low-memory)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def _dummy_hash(self) -> str:
        # verified against when the user does not exist, so a wrong user name costs as much
        # time as a wrong password and does not reveal which user names exist
        if self._dummy is None:
            self._dummy = self._hasher.hash("not-a-real-password")
        return self._dummy

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; False for a wrong password or an unusable hash."""
        try:
            return self._hasher.verify(password_hash or self._dummy_hash(), password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    async def ahash(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)

    async def averify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self.verify, password_hash, password)
