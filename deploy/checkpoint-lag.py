"""How far the router, the resolver and the webhook worker are behind, in changes.

Each keeps where it stopped reading a database in fs_ops as a ``_local`` document
(``router-checkpoint:<db>``, ``resolver-checkpoint:<db>``, ``webhook-checkpoint``); the lag is
the number of changes of that database after the checkpoint (CouchDB's ``pending``, which is
approximate on a cluster). Only what is behind is printed; exit status 1 when anything is
more than ``--max`` changes behind, for a cron job or a monitoring check.

Runs with the standard library, inside the service image, reading COUCHDB_URL and
FIELDSYNC_DB_PREFIX like the service:

    docker compose exec -T worker python - --max 1000 < checkpoint-lag.py

A checkpoint's own ``updated_at`` is the time of the last progress, not of the last look: an
idle database's checkpoint stays old, so age alone means nothing.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class Couch:
    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        netloc = f"{parts.hostname}:{parts.port or 5984}"
        self.base = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
        self.headers = {"Accept": "application/json"}
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            pair = f"{user}:{urllib.parse.unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()

    def get(self, path: str, **query: Any) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, headers=self.headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)


def seg(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def lag(couch: Couch, ops: str, checkpoint: str, db: str) -> int | None:
    """Changes of ``db`` after ``checkpoint``; None when the database is gone."""
    try:
        seq = couch.get(f"/{seg(ops)}/_local/{seg(checkpoint)}").get("seq", 0)
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
        seq = 0  # never checkpointed: everything is still to read
    try:
        # a CouchDB 3 sequence is an opaque string, PouchDB Server's a number
        page = couch.get(f"/{seg(db)}/_changes", since=str(seq), limit=1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return len(page.get("results", [])) + int(page.get("pending") or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max", type=int, default=1000, help="exit 1 when a lag exceeds this")
    args = parser.parse_args()
    url = os.environ.get("COUCHDB_URL")
    if not url:
        print("COUCHDB_URL is not set", file=sys.stderr)
        return 2
    prefix = os.environ.get("FIELDSYNC_DB_PREFIX", "")
    couch = Couch(url)
    ops, orders, field, master = (f"{prefix}fs_{n}" for n in ("ops", "orders", "field", "master"))
    reps = sorted(d for d in couch.get("/_all_dbs") if d.startswith(prefix + "rep_"))
    checks = [("router", f"router-checkpoint:{db}", db) for db in (master, orders, field, *reps)]
    checks += [("resolver", f"resolver-checkpoint:{db}", db) for db in (orders, field)]
    checks.append(("webhook", "webhook-checkpoint", orders))
    worst = 0
    for worker, checkpoint, db in checks:
        behind = lag(couch, ops, checkpoint, db)
        if behind:
            print(f"{worker:8} {db:40} {behind:>8} changes behind")
            worst = max(worst, behind)
    print(f"checked {len(checks)} checkpoints ({len(reps)} rep databases); worst lag {worst}")
    return 1 if worst > args.max else 0


if __name__ == "__main__":
    sys.exit(main())
