"""The embedded CouchDB: PouchDB Server (npm ``pouchdb-server``) as a supervised child process.

Installed by ``make`` into ``couchdb_embedded/node_modules`` from the committed lock file. It is
started through ``pouchdb_server.js`` beside this file (PouchDB Server less two costs that grow
with the number of databases; see its header), on a free local port with its own data folder,
waited for until ``GET /`` answers, and restarted on the same port and data if it dies (it is
an old program with known crash bugs).
While it is down, :attr:`EmbeddedCouch.available` is false and the gateway answers 503.

It is never in "admin party" (everyone an admin), and nothing else on the machine may use it:

- an admin ``fieldsync`` with a random password, kept in ``<data>/admin-credentials.json``
  (mode 0600, created on first start and reused); the password is written into ``config.json``
  at each start, and PouchDB Server replaces it there by its hash;
- it binds 127.0.0.1 only; its CORS is off (it echoed any origin, with credentials);
- the data folder is mode 0700;
- every database the service creates gets a ``_security`` object admitting only admins
  (``CouchClient.create_db``), so an anonymous request is refused (401).

:attr:`EmbeddedCouch.url` is the bare URL (for logs); :attr:`EmbeddedCouch.admin_url` carries
the credentials, for CouchDB clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import structlog

log = structlog.get_logger(__name__)

ADMIN_USER = "fieldsync"
CREDENTIALS_FILE = "admin-credentials.json"  # a "." in the name: never a database's folder
LAUNCHER = Path(__file__).with_name("pouchdb_server.js")  # see its header


class EmbeddedCouchError(RuntimeError):
    """PouchDB Server could not be installed, found or started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedCouch:
    """Start, watch and stop one PouchDB Server process."""

    def __init__(
        self,
        node_modules: Path,
        data_dir: Path,
        *,
        port: int = 0,
        in_memory: bool = False,
        start_timeout_s: float = 30.0,
    ) -> None:
        self.node_modules = node_modules
        self.data_dir = data_dir
        self.port = port or free_port()
        self.in_memory = in_memory
        self.start_timeout_s = start_timeout_s
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._up = asyncio.Event()
        self.admin_user = ADMIN_USER
        self.admin_password = ""

    @property
    def url(self) -> str:
        """The bare URL, without credentials (for logs and anonymous checks)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """The URL with the admin's credentials, for CouchDB clients."""
        user, password = quote(self.admin_user, safe=""), quote(self.admin_password, safe="")
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def available(self) -> bool:
        return self._up.is_set()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _command(self) -> list[str]:
        script = self.node_modules / "pouchdb-server" / "bin" / "pouchdb-server"
        if not script.exists():
            raise EmbeddedCouchError(
                f"PouchDB Server is not installed at {script}; run `make setup` "
                "(npm ci in couchdb_embedded/)"
            )
        config = self.data_dir / "config.json"
        cmd = [
            "node",
            str(LAUNCHER),  # PouchDB Server less two costs that grow with the databases
            str(self.node_modules),
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
            "--config",
            str(config),
            "--no-stdout-logs",
        ]
        cmd += ["--in-memory"] if self.in_memory else ["--dir", str(self.data_dir)]
        return cmd

    async def start(self) -> str:
        """Start the server and its watcher; return its admin URL once it answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        self.admin_password = self._load_or_create_password()
        self._write_config()
        self._stopping = False
        await self._spawn()
        self._watcher = asyncio.create_task(self._watch(), name="embedded-couch-watch")
        return self.admin_url

    def _load_or_create_password(self) -> str:
        path = self.data_dir / CREDENTIALS_FILE
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored["user"] == self.admin_user and len(stored["password"]) >= 32:
                return str(stored["password"])
        password = secrets.token_urlsafe(32)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"user": self.admin_user, "password": password}, out)
        os.replace(tmp, path)
        log.info("embedded_couch_admin_created", user=self.admin_user, file=str(path))
        return password

    def _write_config(self) -> None:
        """PouchDB Server's config.json: quiet logging to a file, CORS off, our admin.

        Other settings an operator put there are kept; admins other than ours are removed, so an
        admin party or an old known password cannot survive a restart."""
        config = self.data_dir / "config.json"
        current: dict[str, Any] = {}
        with contextlib.suppress(FileNotFoundError, ValueError):
            loaded = json.loads(config.read_text(encoding="utf-8"))
            current = loaded if isinstance(loaded, dict) else {}
        current["log"] = {"file": str(self.data_dir / "pouchdb-server.log"), "level": "error"}
        current.setdefault("httpd", {})["enable_cors"] = False
        current["httpd"]["bind_address"] = "127.0.0.1"
        # plain text here; PouchDB Server hashes it (pbkdf2) and rewrites the file at start
        current["admins"] = {self.admin_user: self.admin_password}
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(current, out)

    async def _spawn(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *self._command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C on the service must not kill it before we stop it
        )
        await self._wait_until_up()
        log.info(
            "embedded_couch_started", url=self.url, pid=self._proc.pid, data=str(self.data_dir)
        )

    async def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.returncode is not None:
                    raise EmbeddedCouchError(
                        f"PouchDB Server exited with {self._proc.returncode} at start; "
                        f"see {self.data_dir / 'pouchdb-server.log'}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url + "/")).status_code == 200:
                        self._up.set()
                        return
                await asyncio.sleep(0.1)
        raise EmbeddedCouchError(f"PouchDB Server did not answer on {self.url} in time")

    async def _watch(self) -> None:
        backoff = 0.5
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            self._up.clear()
            if self._stopping:
                return
            self.restarts += 1
            log.warning("embedded_couch_died", code=code, restarts=self.restarts)
            while not self._stopping:
                try:
                    await self._spawn()
                    backoff = 0.5
                    break
                except (EmbeddedCouchError, OSError) as exc:
                    log.error("embedded_couch_restart_failed", error=str(exc))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)

    async def wait_available(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._up.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def kill(self) -> None:
        """Kill the server and wait until it is dead (fault tests); the watcher restarts it."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def stop(self) -> None:
        self._stopping = True
        self._up.clear()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        log.info("embedded_couch_stopped", url=self.url)
