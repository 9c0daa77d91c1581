"""``python -m sync_gateway.router [--once]``: the router as a process of its own.

Settings come from the environment (``COUCHDB_URL``, ``FIELDSYNC_DB_PREFIX`` ...) as for the
service; without ``COUCHDB_URL`` the embedded server starts, which only makes sense with
``--once`` against its data folder. ``--once`` drains every feed to its end and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from ..runtime import Runtime
from ..settings import Settings
from .worker import Router


async def _main(once: bool) -> None:
    runtime = await Runtime.start(Settings())
    router = Router(runtime.couch, runtime.dbs)
    try:
        if once:
            await router.run_once()
        else:
            await router.run()
    finally:
        await router.stop()
        await runtime.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sync_gateway.router")
    parser.add_argument("--once", action="store_true", help="drain every feed, then exit")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.once))


if __name__ == "__main__":
    main()
