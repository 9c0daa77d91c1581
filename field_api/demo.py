"""Deterministic demo data: a small sales and service organisation to click through.

``seed_demo`` writes, for a given seed, always the same world: 3 territories, 3 reps, 1 service
engineer, 1 manager, 1 back-office user and the admin; ``accounts`` accounts (default 300) with
one or two contacts each, spread over the territories; ``products`` products (default 2,000);
one price list per territory; a few orders, and the engineer's visits and work order, so every
role has something to show. Every document is validated with ``mobile_schema`` before it is
written. Demo logins are ``<user id>`` / ``<user id>-demo`` (``DEMO_LOGINS``: user, password,
role), each user with the role ``STAFF`` / ``REPS`` give them.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from mobile_schema import order_total, validate_document
from sync_gateway.auth.errors import UserExists
from sync_gateway.auth.users import UserStore
from sync_gateway.couch import CouchClient, chunked
from sync_gateway.databases import Databases, ensure_databases
from sync_gateway.runtime import Runtime

from .settings import Settings

log = structlog.get_logger(__name__)

DEMO_TIME = "2026-01-05T08:00:00.000Z"
TERRITORIES = [("north", "North"), ("south", "South"), ("west", "West")]
REPS = [
    ("ana", "Ana Costa", "north", "Europe/Lisbon"),
    ("bruno", "Bruno Weber", "south", "Europe/Berlin"),
    ("carla", "Carla Rossi", "west", "Europe/Rome"),
]
STAFF = [
    ("erik", "Erik Lund", "engineer", "Europe/Stockholm"),
    ("maria", "Maria Novak", "manager", "Europe/Prague"),
    ("otto", "Otto Berg", "backoffice", "Europe/Berlin"),
]
DEMO_LOGINS = [(user_id, f"{user_id}-demo", "rep") for user_id, *_ in REPS] + [
    (user_id, f"{user_id}-demo", role) for user_id, _, role, _ in STAFF
]

_SHOP_KINDS = [
    "Café",
    "Bakery",
    "Market",
    "Pharmacy",
    "Deli",
    "Kiosk",
    "Bistro",
    "Grocer",
    "Hotel",
    "Canteen",
]
_SHOP_NAMES = [
    "Aurora",
    "Linden",
    "Harbour",
    "Old Town",
    "Riverside",
    "Meadow",
    "Station",
    "Corner",
    "Summit",
    "Oak",
    "Bridge",
    "Lighthouse",
    "Garden",
    "Mill",
    "Square",
]
_STREETS = [
    "High Street",
    "Main Road",
    "Church Lane",
    "Market Square",
    "Station Road",
    "Mill Lane",
    "Park Avenue",
    "King Street",
    "Queen's Road",
    "Bridge Street",
]
_CITIES = {
    "north": ["Aberdeen", "Inverness", "Dundee"],
    "south": ["Brighton", "Exeter", "Bath"],
    "west": ["Bristol", "Cardiff", "Swansea"],
}
_FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Mia",
    "Lucas",
    "Sofia",
    "Elias",
    "Lea",
    "Jonas",
    "Clara",
    "Felix",
    "Ida",
    "Oscar",
    "Nora",
]
_LAST = [
    "Smith",
    "Jones",
    "Müller",
    "García",
    "Rossi",
    "Dubois",
    "Novak",
    "Jensen",
    "Silva",
    "Kowalski",
    "Berg",
    "Moreau",
]
_CATEGORIES = {
    "beverages": [
        "Espresso Beans",
        "Green Tea",
        "Orange Juice",
        "Sparkling Water",
        "Cola",
        "Cocoa",
    ],
    "bakery": ["Croissant Dough", "Rye Flour", "Baguette Mix", "Yeast"],
    "dairy": ["Whole Milk", "Oat Milk", "Butter", "Yoghurt", "Cream"],
    "cleaning": ["Glass Cleaner", "Dish Soap", "Paper Towels", "Sanitiser"],
    "equipment": ["Milk Jug", "Tamper", "Filter Papers", "Cups 8oz", "Lids"],
}


@dataclass(frozen=True)
class SeedSummary:
    users: int
    territories: int
    accounts: int
    contacts: int
    products: int
    price_lists: int
    orders: int
    visits: int
    work_orders: int = 0


def _base(doc_type: str, local_id: str, **body: Any) -> dict[str, Any]:
    doc = {
        "_id": f"{doc_type}:{local_id}",
        "type": doc_type,
        "schema_version": 1,
        "updated_at": DEMO_TIME,
        "updated_by": "seed",
        **body,
    }
    if doc_type == "order":
        doc["schema_version"] = 2
    return doc


def build_master(
    rng: random.Random, n_accounts: int, n_products: int
) -> dict[str, list[dict[str, Any]]]:
    """The master data and the field documents of the demo world, validated."""
    products = []
    flat = [(cat, name) for cat, names in _CATEGORIES.items() for name in names]
    for i in range(n_products):
        cat, name = flat[i % len(flat)]
        sku = f"SKU-{i + 1:05d}"
        size = ["250g", "500g", "1kg", "1l", "6-pack", "12-pack", "box of 50"][i % 7]
        products.append(
            _base(
                "product",
                sku,
                sku=sku,
                name=f"{name} {size}",
                unit="each" if "pack" in size or "box" in size else "piece",
                category=cat,
                active=rng.random() > 0.02,
            )
        )
    territories = [
        _base("territory", tid, name=name, rep_ids=[r[0] for r in REPS if r[2] == tid])
        for tid, name in TERRITORIES
    ]
    price_lists = []
    for tid, _ in TERRITORIES:
        items = [
            {"sku": p["sku"], "unit_price": str(Decimal(rng.randint(50, 9999)) / 100)}
            for p in products
        ]
        for item in items:
            item["unit_price"] = f"{Decimal(item['unit_price']):.2f}"
        price_lists.append(
            _base(
                "price_list", tid, currency="EUR", territory_ids=[f"territory:{tid}"], items=items
            )
        )
    accounts, contacts = [], []
    for i in range(n_accounts):
        tid = TERRITORIES[i % len(TERRITORIES)][0]
        aid = f"a{i + 1:04d}"
        city = rng.choice(_CITIES[tid])
        name = f"{rng.choice(_SHOP_NAMES)} {rng.choice(_SHOP_KINDS)} {city}"
        accounts.append(
            _base(
                "account",
                aid,
                name=name,
                territory_id=f"territory:{tid}",
                address=f"{rng.randint(1, 199)} {rng.choice(_STREETS)}, {city}",
                location={
                    "lat": round(50 + rng.random() * 7, 5),
                    "lon": round(-5 + rng.random() * 6, 5),
                },
                price_list_id=f"price_list:{tid}",
            )
        )
        for j in range(1 + (i % 2)):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            contacts.append(
                _base(
                    "contact",
                    f"{aid}-{j + 1}",
                    account_id=f"account:{aid}",
                    name=f"{first} {last}",
                    phone=f"+44 {rng.randint(1000, 9999)} {rng.randint(100000, 999999)}",
                    email=f"{first.lower()}.{last.lower()}@example.com".replace("ü", "ue"),
                )
            )
    orders = []
    for r, (rep_id, _, tid, _) in enumerate(REPS):
        mine = [a for a in accounts if a["territory_id"] == f"territory:{tid}"]
        for k in range(3):
            lines = [
                {
                    "line_id": f"l{n + 1}",
                    "sku": products[(r * 7 + k * 3 + n) % len(products)]["sku"],
                    "qty": rng.randint(1, 12),
                    "unit_price": "4.50",
                    "discount_pct": 0,
                    "confirmed_qty": None,
                    "deleted": False,
                    "updated_at": DEMO_TIME,
                }
                for n in range(3)
            ]
            orders.append(
                _base(
                    "order",
                    f"{rep_id}-{k + 1}",
                    rep_id=rep_id,
                    account_id=mine[k]["_id"],
                    status=["draft", "submitted", "submitted"][k],
                    currency="EUR",
                    lines=lines,
                    note=None,
                    submitted_at=DEMO_TIME if k else None,
                    confirmed_at=None,
                    rejection_reason=None,
                    total=order_total(lines),
                )
            )
    engineer = next(user_id for user_id, _, role, _ in STAFF if role == "engineer")
    work_orders = [
        _base(
            "work_order",
            "wo-1",
            account_id=accounts[0]["_id"],
            assignee_id=engineer,
            priority="high",
            status="assigned",
            problem="Espresso machine leaks under the group head.",
            resolution=None,
            sla_due="2026-01-06T16:00:00.000Z",
        )
    ]
    visits = []
    for k in range(4):
        account = accounts[(k * 7) % len(accounts)]
        visits.append(
            _base(
                "visit",
                f"v{k + 1}",
                assignee_id=engineer,
                account_id=account["_id"],
                kind="service",
                status="planned",
                scheduled_start=f"2026-01-{6 + k:02d}T09:00:00.000Z",
                scheduled_end=f"2026-01-{6 + k:02d}T10:00:00.000Z",
                check_in=None,
                check_out=None,
                # the first visit is the work order's (same account)
                work_order_id=work_orders[0]["_id"] if k == 0 else None,
            )
        )
    world = {
        "products": products,
        "territories": territories,
        "price_lists": price_lists,
        "accounts": accounts,
        "contacts": contacts,
        "orders": orders,
        "visits": visits,
        "work_orders": work_orders,
    }
    for docs in world.values():
        for doc in docs:
            validate_document(doc)
    return world


async def is_empty(couch: CouchClient, dbs: Databases) -> bool:
    return int((await couch.db_info(dbs.master))["doc_count"]) == 0


async def seed_demo(
    couch: CouchClient,
    dbs: Databases,
    *,
    seed: int = 42,
    accounts: int = 300,
    products: int = 2000,
    users: UserStore | None = None,
) -> SeedSummary:
    """Write the demo world; existing documents with the same ids are left as they are.

    ``users``: the service's user store (its password hashing settings); default: a store with
    the production argon2 parameters."""
    await ensure_databases(couch, dbs)
    world = build_master(random.Random(seed), accounts, products)
    users = users or UserStore(couch, dbs)
    created = 0
    people = [(u, name, "rep", tz) for u, name, _, tz in REPS] + STAFF
    for user_id, name, role, tz in people:
        try:
            await users.create_user(
                user_id, name=name, role=role, password=f"{user_id}-demo", time_zone=tz
            )
            created += 1
        except UserExists:
            pass  # already there: the seed is idempotent
    master = (
        world["products"]
        + world["territories"]
        + world["price_lists"]
        + world["accounts"]
        + world["contacts"]
    )
    for batch in chunked(master, 500):
        await couch.bulk_docs(dbs.master, batch)
    await couch.bulk_docs(dbs.orders, world["orders"])
    await couch.bulk_docs(dbs.field, world["visits"] + world["work_orders"])
    summary = SeedSummary(
        created,
        len(world["territories"]),
        len(world["accounts"]),
        len(world["contacts"]),
        len(world["products"]),
        len(world["price_lists"]),
        len(world["orders"]),
        len(world["visits"]),
        len(world["work_orders"]),
    )
    log.info("demo_seeded", **summary.__dict__)
    return summary


async def seed_if_empty(rt: Runtime, users: UserStore) -> None:
    """Start-up with ``FIELDSYNC_SEED_DEMO``: the demo world, with the service's user store."""
    if await is_empty(rt.couch, rt.dbs):
        await seed_demo(rt.couch, rt.dbs, users=users)


async def seed_demo_cli(settings: Settings, args: argparse.Namespace) -> int:
    rt = await Runtime.start(settings.gateway())
    try:
        await ensure_databases(rt.couch, rt.dbs)
        if not args.force and not await is_empty(rt.couch, rt.dbs):
            print("the databases already hold data; use --force to seed anyway")
            return 1
        summary = await seed_demo(
            rt.couch, rt.dbs, seed=args.seed, accounts=args.accounts, products=args.products
        )
        print(f"seeded: {summary}")
        return 0
    finally:
        await rt.stop()
