"""The defaults of a fresh install: the token secret and the embedded store are closed.

- ``fieldsync serve`` refuses to start with an empty (external store), short or published secret
  (the old source default, ``change-me``, any value of ``deploy/``), saying what to do, unless
  ``FIELDSYNC_DEV_INSECURE=1``;
- ``make run``'s way (no secret, embedded store) started twice on one data folder: the secret is
  generated once (mode 0600) and reused, so a token of the first run works in the second; the
  embedded PouchDB Server refuses anonymous requests (reading ``fs_ops``, writing
  ``fs_ops/user:x``, its config), has no CORS, and keeps its admin password 0600.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from polling import wait_until

from field_api.app import create_app
from field_api.settings import Settings
from sync_gateway.auth.secret import (
    InsecureSecret,
    published_values,
    resolve_jwt_secret,
    weakness,
)
from sync_gateway.config import REPO_ROOT
from sync_gateway.couch.embedded import CREDENTIALS_FILE, free_port

OLD_DEFAULT = "dev-only-change-me-dev-only-change-me"


def _env(**values: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_") and k != "COUCHDB_URL"
    }
    env.update(
        {
            "FIELDSYNC_ARGON2_TIME_COST": "1",
            "FIELDSYNC_ARGON2_MEMORY_KIB": "64",
            "FIELDSYNC_RUN_WORKERS": "false",
            **values,
        }
    )
    return env


def _serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "field_api.cli", "--log-level", "WARNING", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("secret", [OLD_DEFAULT, "change-me"])
async def test_service_refuses_to_start_with_a_weak_or_published_secret(
    couch_url: str, secret: str, tmp_path: Path
) -> None:
    proc = _serve(
        _env(
            COUCHDB_URL=couch_url,
            FIELDSYNC_JWT_SECRET=secret,
            FIELDSYNC_PORT=str(free_port()),
            FIELDSYNC_DATA_DIR=str(tmp_path),
        )
    )
    _, err = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 2
    message = err.decode()
    assert "FIELDSYNC_JWT_SECRET" in message and "openssl rand -hex 32" in message, message
    assert secret not in message or secret == "change-me"  # never echoes the secret itself
    assert not (tmp_path / "jwt_secret").exists()


async def test_no_secret_with_an_external_store_is_refused(couch_url: str, tmp_path: Path) -> None:
    proc = _serve(
        _env(
            COUCHDB_URL=couch_url, FIELDSYNC_PORT=str(free_port()), FIELDSYNC_DATA_DIR=str(tmp_path)
        )
    )
    _, err = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 2
    assert "is not set and CouchDB is external" in err.decode()


@pytest.mark.parametrize("secret", ["", "short-secret", "x" * 31, "CHANGEME" + "x" * 40])
def test_short_or_empty_secrets_are_refused(secret: str, tmp_path: Path) -> None:
    settings = Settings(jwt_secret=secret, couchdb_url="http://db:5984", data_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(InsecureSecret) as refused:
        create_app(settings)
    assert "FIELDSYNC_JWT_SECRET" in refused.value.reason
    assert not (tmp_path / "jwt_secret").exists()


def test_every_value_written_in_deploy_is_refused() -> None:
    values = published_values(REPO_ROOT / "deploy")
    assert "change-me" in values and OLD_DEFAULT in values
    example = (REPO_ROOT / "deploy" / "example.env").read_text()
    for line in example.splitlines():
        if "=" in line and not line.startswith("#") and line.split("=", 1)[1]:
            value = line.split("=", 1)[1]
            assert weakness(value) is not None, value
            with pytest.raises(InsecureSecret):
                create_app(Settings(jwt_secret=value))  # type: ignore[arg-type]
    strong = "9f2c" * 16
    assert weakness(strong) is None


def test_dev_insecure_starts_anyway(tmp_path: Path) -> None:
    settings = Settings(jwt_secret=OLD_DEFAULT, dev_insecure=True, data_dir=tmp_path)  # type: ignore[arg-type]
    assert resolve_jwt_secret(settings.gateway()).get_secret_value() == OLD_DEFAULT
    create_app(settings)  # no InsecureSecret


async def _start(env: dict[str, str], base: str) -> subprocess.Popen[bytes]:
    proc = _serve(env)

    async def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the service exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{base}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(healthy, timeout=90, interval=0.2, message="the service to answer")
    return proc


async def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    await asyncio.to_thread(proc.wait, 60)


async def _anonymous_is_refused(store: str, ops: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=store, timeout=10) as http:
        answers = {
            "read fs_ops": (await http.get(f"/{ops}")).status_code,
            "read a user": (await http.get(f"/{ops}/user:admin")).status_code,
            "all docs": (await http.get(f"/{ops}/_all_docs?include_docs=true")).status_code,
            "changes": (await http.get(f"/{ops}/_changes")).status_code,
            "write fs_ops/user:x": (
                await http.put(f"/{ops}/user:x", json={"type": "user", "role": "admin"})
            ).status_code,
            "config": (await http.get("/_config")).status_code,
            "make admin": (
                await http.put("/_config/admins/evil", content=b'"evil-password"')
            ).status_code,
        }
        cors = await http.get("/", headers={"Origin": "http://evil.example"})
        answers["cors"] = cors.headers.get("access-control-allow-origin")
    return answers


async def test_make_run_twice_keeps_its_secret_and_the_store_is_closed(tmp_path: Path) -> None:
    port, store_port = free_port(), free_port()
    base, store = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{store_port}"
    env = _env(
        FIELDSYNC_PORT=str(port),
        FIELDSYNC_EMBEDDED_PORT=str(store_port),
        FIELDSYNC_DATA_DIR=str(tmp_path),
        FIELDSYNC_ADMIN_PASSWORD="admin-demo",
    )
    proc = await _start(env, base)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            resp = await http.post(
                "/api/v1/auth/token", data={"username": "admin", "password": "admin-demo"}
            )
            assert resp.status_code == 200
            token = resp.json()["access_token"]
        answers = await _anonymous_is_refused(store, "fs_ops")
    finally:
        await _stop(proc)
    assert {k: v for k, v in answers.items() if k != "cors"} == {
        "read fs_ops": 401,
        "read a user": 401,
        "all docs": 401,
        "changes": 401,
        "write fs_ops/user:x": 401,
        "config": 401,
        "make admin": 401,
    }
    assert answers["cors"] is None
    secret_file = tmp_path / "jwt_secret"
    first_secret = secret_file.read_text()
    assert len(first_secret.strip()) == 64
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    credentials = tmp_path / "couchdb" / CREDENTIALS_FILE
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "couchdb").stat().st_mode) == 0o700
    first_credentials = credentials.read_text()
    assert "fieldsync" in first_credentials

    proc = await _start(env, base)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        answers_again = await _anonymous_is_refused(store, "fs_ops")
    finally:
        await _stop(proc)
    assert me.status_code == 200 and me.json()["id"] == "admin"  # the token survived the restart
    assert secret_file.read_text() == first_secret
    assert credentials.read_text() == first_credentials
    assert answers_again["read fs_ops"] == 401 and answers_again["write fs_ops/user:x"] == 401
