"""``python -m sync_gateway.router`` refuses to run, and says what to run instead.

A router started here would copy documents and notify no one: its events (an order confirmed,
a visit assigned, a territory lost) go to the notifier, which only the composition root wires
(``field_api.workers``). ``fieldsync worker [--once]`` runs the router with it; nothing is
copied by this module, so a script that still calls it fails loudly instead of silently.
"""

from __future__ import annotations

import sys

REFUSAL = (
    "python -m sync_gateway.router no longer runs the router: it would copy documents and "
    "send no notifications. Run `fieldsync worker` (or `fieldsync worker --once` to drain every "
    "feed and exit), which starts the router with the notifier; the settings are the same "
    "(COUCHDB_URL, FIELDSYNC_DB_PREFIX, ...)."
)


def main() -> int:
    sys.stderr.write(REFUSAL + "\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
