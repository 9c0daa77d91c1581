"""Customers and who serves them: account, contact, territory (``fs_master``, read-only on devices).

account (schema 1)::

    {"_id": "account:<id>", "type": "account", "name": "Café Nord",
     "territory_id": "territory:north" | null, "address": "1 Main St, Oslo" | null,
     "location": {"lat": 59.91, "lon": 10.75} | null, "price_list_id": "price_list:std" | null, ...}

contact (schema 1)::

    {"_id": "contact:<id>", "type": "contact", "account_id": "account:<id>", "name": "Kari",
     "phone": "+47 123 45 678" | null, "email": "kari@example.com" | null, ...}

territory (schema 1)::

    {"_id": "territory:<id>", "type": "territory", "name": "North", "rep_ids": ["alice"], ...}

An account belongs to at most one territory (``territory_id``); the reps of that territory see it.
``rep_ids`` are user ids (the ``<id>`` of ``user:<id>``), without duplicates.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from mobile_schema.base import Document, Strict
from mobile_schema.fields import (
    AccountRef,
    Latitude,
    Longitude,
    Name,
    PriceListRef,
    TerritoryRef,
    UserId,
    fail,
    regex_check,
)

MAX_REPS = 1_000
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^[0-9+()./ -]{3,40}$"


Phone = Annotated[
    str,
    StringConstraints(pattern=PHONE_PATTERN),
    BeforeValidator(regex_check(PHONE_PATTERN, 'a phone number like "+47 22 00 00 00"')),
]
Email = Annotated[
    str,
    StringConstraints(pattern=EMAIL_PATTERN, max_length=254),
    BeforeValidator(regex_check(EMAIL_PATTERN, 'an e-mail address like "kari@example.com"')),
]


class Location(Strict):
    """A WGS84 position."""

    lat: Latitude
    lon: Longitude


class Account(Document):
    """A customer (shop, site) served by the reps of its territory."""

    TYPE: ClassVar[str] = "account"
    type: Literal["account"]
    schema_version: Literal[1]
    name: Name
    territory_id: TerritoryRef | None = None
    address: Annotated[str, StringConstraints(max_length=1_000)] | None = None
    location: Location | None = None
    price_list_id: PriceListRef | None = None


class Contact(Document):
    """A person at an account."""

    TYPE: ClassVar[str] = "contact"
    type: Literal["contact"]
    schema_version: Literal[1]
    account_id: AccountRef
    name: Name
    phone: Phone | None = None
    email: Email | None = None


class Territory(Document):
    """A set of accounts and the reps who serve them."""

    TYPE: ClassVar[str] = "territory"
    type: Literal["territory"]
    schema_version: Literal[1]
    name: Name
    rep_ids: list[UserId] = Field(default_factory=list, max_length=MAX_REPS)

    def check(self) -> None:
        if len(set(self.rep_ids)) != len(self.rep_ids):
            raise fail("must not list a rep twice", field="rep_ids")
