"""The ``fieldsync`` command line: serve, seed-demo, export-schemas, worker, import.

The only place that builds :class:`~field_api.settings.Settings` from the environment besides
tests (each command then hands every package its own config), and the only place that prints
to the console. Every command that runs the router or the resolver starts the notifier first
and binds them to it (``workers.py``): no command copies documents and tells no one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from mobile_schema import ROLES

from .logging import configure
from .settings import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sync_gateway.auth.secret import InsecureSecret

    from .app import create_app

    overrides: dict[str, object] = {}
    if args.seed_demo:
        overrides["seed_demo"] = True
    if args.port:
        overrides["port"] = args.port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    try:
        app = create_app(settings)
    except InsecureSecret as exc:
        print(f"fieldsync: {exc.reason}", file=sys.stderr)
        return 2
    if settings.dev_insecure:
        print(
            "fieldsync: WARNING: FIELDSYNC_DEV_INSECURE=1: started without the checks of the "
            "token secret; never run this way where others can reach the service",
            file=sys.stderr,
        )
    base = settings.public_base()
    print(f"fieldsync serving on {base}")
    print(f"  health   {base}/healthz")
    print(f"  console  {base}/console/  (back office, managers and admins sign in there)")
    print(f"  API docs {base}/docs")
    print(f"  sync     {base}/sync/rep_<user id>  (see GET /api/v1/me)")
    print(f"  database {'external CouchDB' if settings.couchdb_url else 'embedded PouchDB Server'}")
    origins = ", ".join(settings.cors_origins) or "none (set FIELDSYNC_CORS_ORIGINS)"
    print(f"  CORS     {origins}")
    if settings.seed_demo:
        from .demo import DEMO_LOGINS

        print("  demo logins (user / password), when the demo data is loaded:")
        for role in (r for r in ROLES if r != "admin"):  # admin: printed below
            logins = ", ".join(f"{u} / {p}" for u, p, r in DEMO_LOGINS if r == role)
            print(f"    {role:<10} {logins}")
    if settings.admin_password is not None:
        print("    admin      admin / the value of FIELDSYNC_ADMIN_PASSWORD (make run: admin-demo)")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        # open live feeds and event streams must not hold a restart hostage
        timeout_graceful_shutdown=5,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    """The background workers without HTTP: router, resolver, webhooks and notifications."""
    from sync_gateway.conflict_store import CouchConflictStore
    from sync_gateway.databases import ensure_databases
    from sync_gateway.runtime import Runtime

    from .workers import build_router, start_notifier, start_workers

    settings = Settings()

    async def run() -> None:
        rt = await Runtime.start(settings.gateway())
        try:
            await ensure_databases(rt.couch, rt.dbs)
            if args.once:
                # the router's events become outbox entries; the lease holder sends them
                notifier = await start_notifier(settings, rt, None, scheduler=False)
                try:
                    await build_router(settings, rt, notifier, leased=False).run_once()
                finally:
                    await notifier.stop()
                return
            conflicts = CouchConflictStore(rt.couch, rt.dbs)
            workers = await start_workers(settings, rt, conflicts, None)
            try:
                await asyncio.Event().wait()  # until interrupted
            finally:
                await workers.stop()
        finally:
            await rt.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def _resolve(args: argparse.Namespace) -> int:
    from sync_gateway.conflict_store import CouchConflictStore
    from sync_gateway.databases import ensure_databases
    from sync_gateway.runtime import Runtime

    from .workers import build_resolver, start_notifier

    settings = Settings()

    async def run() -> None:
        rt = await Runtime.start(settings.gateway())
        try:
            await ensure_databases(rt.couch, rt.dbs)
            # pushes to the users a merge overrode: outbox entries, sent by the lease holder
            notifier = await start_notifier(settings, rt, None, scheduler=False)
            try:
                resolver = build_resolver(rt, CouchConflictStore(rt.couch, rt.dbs), notifier)
                if args.once:
                    done = await resolver.sweep()
                    print(f"resolved {len(done)} conflicted document(s)")
                else:
                    await resolver.run()
            finally:
                await notifier.stop()
        finally:
            await rt.stop()

    asyncio.run(run())
    return 0


def _export_schemas(args: argparse.Namespace) -> int:
    from mobile_schema import export_json_schemas

    paths = export_json_schemas(Path(args.directory))
    for path in paths:
        print(path)
    return 0


def _seed_demo(args: argparse.Namespace) -> int:
    from .demo import seed_demo_cli

    return asyncio.run(seed_demo_cli(Settings(), args))


def _import(args: argparse.Namespace) -> int:
    """Exit status: 0 all rows imported, 1 refused (nothing written), 3 written but rows skipped
    or documents not written."""
    from sync_gateway.databases import ensure_databases
    from sync_gateway.runtime import Runtime

    from .importer import import_file

    path = Path(args.file)
    if not path.is_file():
        print(f"fieldsync import: {path} is not a file", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        line = f"import {args.kind}: {done}/{total} documents written"
        print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr)

    async def run() -> int:
        rt = await Runtime.start(Settings().gateway())
        try:
            await ensure_databases(rt.couch, rt.dbs)
            result = await import_file(
                rt.couch,
                rt.dbs.master,
                args.kind,
                path,
                skip_bad_rows=args.skip_bad_rows,
                progress=progress,
            )
        finally:
            await rt.stop()
        if tty and result.documents and not result.refused:
            print(file=sys.stderr)
        for error in result.errors[:200]:
            print(f"{path}: {error}", file=sys.stderr)
        if len(result.errors) > 200:
            print(f"... and {len(result.errors) - 200} more errors", file=sys.stderr)
        for row in result.write_errors[:200]:
            print(f"{path}: {row['id']}: not written: {row.get('reason')}", file=sys.stderr)
        if result.refused:
            print(
                f"nothing imported: {result.bad_rows} bad row(s) of {result.rows}"
                + ("" if result.rows else "; fix the header")
                + " (--skip-bad-rows imports the good ones)"
            )
            return 1
        print(
            f"{args.kind}: {result.rows} rows, {result.documents} documents: {result.written} "
            f"written, {result.unchanged} unchanged, {result.bad_rows} bad rows skipped, "
            f"{len(result.write_errors)} not written"
        )
        return 3 if result.errors or result.write_errors else 0

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fieldsync", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the gateway and the API (and run the workers)")
    serve.add_argument("--port", type=int, default=0, help="default: FIELDSYNC_PORT or 8000")
    serve.add_argument(
        "--seed-demo",
        action="store_true",
        help="load demo data at start-up when the databases are empty",
    )
    serve.set_defaults(func=_serve)

    worker = sub.add_parser(
        "worker", help="run the workers (router, resolver, webhooks, notifications) without HTTP"
    )
    worker.add_argument("--once", action="store_true", help="drain every feed, then exit")
    worker.set_defaults(func=_worker)

    resolve = sub.add_parser("resolve", help="resolve conflicts in fs_orders and fs_field")
    resolve.add_argument("--once", action="store_true", help="sweep every document, then exit")
    resolve.set_defaults(func=_resolve)

    export = sub.add_parser("export-schemas", help="write a JSON Schema per document type")
    export.add_argument("directory")
    export.set_defaults(func=_export_schemas)

    seed = sub.add_parser("seed-demo", help="load deterministic demo data")
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--accounts", type=int, default=300)
    seed.add_argument("--products", type=int, default=2000)
    seed.add_argument("--force", action="store_true", help="seed even when data exists")
    seed.set_defaults(func=_seed_demo)

    from .importer import COLUMNS, columns_help

    imp = sub.add_parser(
        "import",
        help="import products, accounts, contacts or price lists from a CSV file",
        description="Import master data into fs_master from a CSV file with a header row "
        "(see docs/import.md). Every row is validated first; a file with a bad row writes "
        "nothing unless --skip-bad-rows. Exit status: 0 imported, 1 refused, 3 imported "
        "with rows skipped.",
        epilog="\n\n".join(columns_help(kind) for kind in COLUMNS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("kind", choices=list(COLUMNS))
    imp.add_argument("file", help="the CSV file (UTF-8, comma separated, header row)")
    imp.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="write the good rows and report the bad ones instead of refusing the file",
    )
    imp.set_defaults(func=_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(args.log_level, json=args.log_json)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
