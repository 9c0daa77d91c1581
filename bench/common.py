"""What every benchmark needs: a fresh CouchDB-protocol server and the service as a process.

The server is PouchDB Server from ``couchdb_embedded/`` (or ``COUCHDB_URL``); the service runs
as ``fieldsync serve`` in its own process, as in production, against that same server, so a
ratio compares the gateway with the database behind it, same client, same data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from sync_gateway.config import REPO_ROOT
from sync_gateway.couch import CouchClient
from sync_gateway.couch.embedded import EmbeddedCouch, free_port

sys.path.insert(0, str(REPO_ROOT / "tests"))

ADMIN_PASSWORD = "bench-admin-password"


@dataclass
class Stack:
    couch_url: str
    gateway_url: str
    couch: CouchClient
    gateway_pid: int
    prefix: str

    async def user(self, user_id: str, role: str = "rep") -> tuple[str, dict[str, str]]:
        """Create a field user; return their sync URL and auth headers."""
        async with httpx.AsyncClient(base_url=self.gateway_url, timeout=60) as http:
            admin = await _token(http, "admin", ADMIN_PASSWORD)
            resp = await http.post(
                "/api/v1/users",
                headers=admin,
                json={
                    "id": user_id,
                    "name": user_id,
                    "role": role,
                    "password": f"{user_id}-pw-123",
                },
            )
            assert resp.status_code in (201, 409), resp.text
            headers = await _token(http, user_id, f"{user_id}-pw-123")
            me = (await http.get("/api/v1/me", headers=headers)).json()
        return me["sync_url"], headers


async def _token(http: httpx.AsyncClient, user: str, password: str) -> dict[str, str]:
    resp = await http.post("/api/v1/auth/token", data={"username": user, "password": password})
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@contextlib.asynccontextmanager
async def couch_server() -> AsyncIterator[str]:
    """``COUCHDB_URL``, or a fresh embedded PouchDB Server for the length of the block."""
    url = os.environ.get("COUCHDB_URL")
    if url:
        yield url
        return
    data = Path(tempfile.mkdtemp(prefix="fieldsync-bench-"))
    server = EmbeddedCouch(REPO_ROOT / "couchdb_embedded" / "node_modules", data / "couch")
    try:
        yield await server.start()
    finally:
        await server.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.asynccontextmanager
async def stack(
    workers: bool = False, couch_url: str | None = None, **env_overrides: str
) -> AsyncIterator[Stack]:
    """The service as a process; on ``couch_url`` when given (several stacks can share one
    server, each with its own database prefix), else on ``COUCHDB_URL`` or a fresh embedded
    server of its own."""
    data = Path(tempfile.mkdtemp(prefix="fieldsync-bench-"))
    embedded = None
    url = couch_url or os.environ.get("COUCHDB_URL")
    if not url:
        embedded = EmbeddedCouch(REPO_ROOT / "couchdb_embedded" / "node_modules", data / "couch")
        url = await embedded.start()
    port = free_port()
    prefix = f"bench{int(time.time())}{'w' if workers else 'g'}{port}_"
    env = {
        **os.environ,
        "COUCHDB_URL": url,
        "FIELDSYNC_PORT": str(port),
        "FIELDSYNC_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # an external store needs a secret of its own (auth/secret.py refuses to start without)
        "FIELDSYNC_JWT_SECRET": secrets.token_hex(32),
        "FIELDSYNC_DB_PREFIX": prefix,
        "FIELDSYNC_RUN_WORKERS": "true" if workers else "false",
        **env_overrides,
    }
    command = [sys.executable, "-m", "field_api.cli", "--log-level", "WARNING", "serve"]
    # Popen returns at once; nothing here waits on the child
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    gateway = f"http://127.0.0.1:{port}"
    couch = CouchClient(url)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{gateway}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the service did not start")
        yield Stack(url, gateway, couch, proc.pid, prefix)
    finally:
        proc.terminate()
        proc.wait(10)
        await couch.aclose()
        if embedded is not None:
            await embedded.stop()


def ratio_line(name: str, direct: list[float], gateway: list[float], bar: float) -> str:
    d, g = statistics.median(direct), statistics.median(gateway)
    ratio = g / d if d else float("inf")
    verdict = "ok" if ratio <= bar else "OVER THE BAR"
    return (
        f"{name:<34} couchdb {d:7.2f}s  gateway {g:7.2f}s  ratio {ratio:5.2f} "
        f"(bar {bar})  {verdict}   runs: direct {[round(x, 2) for x in direct]} "
        f"gateway {[round(x, 2) for x in gateway]}"
    )
