"""The catalog: products and price lists (``fs_master``, read-only on devices).

product (schema 1)::

    {"_id": "product:<sku>", "type": "product", "sku": "SKU-1", "name": "Espresso beans 1 kg",
     "unit": "kg", "category": "coffee" | null, "active": true, ...common fields}

price_list (schema 1)::

    {"_id": "price_list:<id>", "type": "price_list", "name": "North 2024" | null,
     "currency": "EUR", "territory_ids": ["territory:north"],
     "items": [{"sku": "SKU-1", "unit_price": "12.50"}], ...common fields}

By convention a product's id is ``product:<sku>`` (not enforced: a SKU may be renamed). A price
list has at most one item per SKU; it applies to the accounts of its territories.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from mobile_schema.base import Document, Strict
from mobile_schema.fields import Currency, Money, Name, Sku, TerritoryRef, fail

MAX_PRICE_ITEMS = 50_000
MAX_TERRITORIES = 1_000


class Product(Document):
    """A sellable item of the catalog."""

    TYPE: ClassVar[str] = "product"
    type: Literal["product"]
    schema_version: Literal[1]
    sku: Sku
    name: Name
    unit: str = Field(min_length=1, max_length=32, description='unit of sale, e.g. "pcs", "kg"')
    category: Name | None = None
    active: bool = True


class PriceItem(Strict):
    """The price of one SKU in a price list."""

    sku: Sku
    unit_price: Money


class PriceList(Document):
    """Prices in one currency for the accounts of some territories."""

    TYPE: ClassVar[str] = "price_list"
    type: Literal["price_list"]
    schema_version: Literal[1]
    name: Name | None = None
    currency: Currency
    territory_ids: list[TerritoryRef] = Field(default_factory=list, max_length=MAX_TERRITORIES)
    items: list[PriceItem] = Field(max_length=MAX_PRICE_ITEMS)

    def check(self) -> None:
        seen: set[str] = set()
        for index, item in enumerate(self.items):
            if item.sku in seen:
                raise fail(f"duplicate sku {item.sku!r}", field=f"items[{index}].sku")
            seen.add(item.sku)
