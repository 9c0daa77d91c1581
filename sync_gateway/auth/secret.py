"""The secret that signs tokens: refused when weak or published, generated when absent.

Rules, checked once at start-up by :func:`resolve_jwt_secret` (the service does not start on a
refusal; the message says what to do):

    FIELDSYNC_JWT_SECRET          store        result
    unset or empty                embedded     read ``<data dir>/jwt_secret``, or create it: 32
                                               random bytes (hex), mode 0600; reused at every start,
                                               so tokens survive a restart
    unset or empty                external     refused: several processes must share one secret
    shorter than 32 bytes         any          refused
    published                     any          refused: the old source default, anything with
                                               ``change-me`` / ``changeme``, any value written
                                               in a file of ``deploy/``
    anything else                 any          used

``FIELDSYNC_DEV_INSECURE=1`` turns every refusal into a loud warning (logged at start and printed
by the CLI): for a throw-away development run only. With an external store and no secret it
then uses the generated file as well.

The data folder file is the embedded store's sibling: whoever can read it can also read the
database files, so it adds no exposure.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import structlog
from pydantic import SecretStr

from ..config import REPO_ROOT, GatewayConfig
from .errors import AuthError

log = structlog.get_logger(__name__)

MIN_SECRET_BYTES = 32
SECRET_FILE = "jwt_secret"
# the default sync_gateway/settings.py shipped with until it was removed: every token signed
# with it is forgeable by anyone who has read the source
OLD_DEFAULTS = frozenset({"dev-only-change-me-dev-only-change-me", "change-me"})
PUBLISHED_WORDS = re.compile(r"change-?me", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^\s*(?:-\s*)?[A-Za-z_][A-Za-z0-9_]*\s*[=:]\s*(.+?)\s*$")


class InsecureSecret(AuthError):
    """The configured secret is missing, short or published; the service refuses to start."""


def published_values(deploy_dir: Path = REPO_ROOT / "deploy") -> frozenset[str]:
    """Every value assigned in a committed file of ``deploy/`` (``KEY=value`` or ``key: value``).

    Dot files are skipped: ``deploy/.env`` is where an operator keeps the real secrets.
    """
    found: set[str] = set(OLD_DEFAULTS)
    if not deploy_dir.is_dir():
        return frozenset(found)
    for path in sorted(deploy_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            match = _ASSIGNMENT.match(line)
            if match:
                value = match.group(1).strip().strip("'\"")
                if value:
                    found.add(value)
    return frozenset(found)


def weakness(secret: str, published: frozenset[str] | None = None) -> str | None:
    """Why ``secret`` must not sign tokens, or None when it may."""
    if not secret:
        return "FIELDSYNC_JWT_SECRET is empty"
    if secret in (published if published is not None else published_values()):
        return "FIELDSYNC_JWT_SECRET is a published value (a default or an example in deploy/)"
    if PUBLISHED_WORDS.search(secret):
        return "FIELDSYNC_JWT_SECRET still says 'change-me'"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"FIELDSYNC_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes"
    return None


HOW_TO_FIX = (
    "set FIELDSYNC_JWT_SECRET to at least 32 random bytes, the same on every process "
    "(e.g. `openssl rand -hex 32`), or unset it with the embedded store to have one generated "
    "in the data folder; FIELDSYNC_DEV_INSECURE=1 starts anyway, for development only"
)


def load_or_create(data_dir: Path) -> str:
    """The generated secret of this data folder, created (mode 0600) on first use."""
    path = data_dir / SECRET_FILE
    if path.exists():
        value = path.read_text(encoding="ascii").strip()
        if weakness(value, frozenset()) is None:
            return value
        log.warning("jwt_secret_file_replaced", path=str(path), reason="too short")
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(MIN_SECRET_BYTES)
    tmp = path.with_name(path.name + ".tmp")
    # created 0600 from the start (not chmod-ed after): never readable by others, even briefly
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(value + "\n")
    os.replace(tmp, path)
    log.info("jwt_secret_generated", path=str(path))
    return value


def resolve_jwt_secret(settings: GatewayConfig) -> SecretStr:
    """The secret to sign with, or InsecureSecret saying why the service must not start."""
    given = settings.jwt_secret.get_secret_value() if settings.jwt_secret is not None else ""
    if not given:
        if settings.couchdb_url and not settings.dev_insecure:
            raise InsecureSecret(
                "FIELDSYNC_JWT_SECRET is not set and CouchDB is external (every process must "
                f"share one secret): {HOW_TO_FIX}"
            )
        return SecretStr(load_or_create(settings.data_dir))
    reason = weakness(given)
    if reason is None:
        return SecretStr(given)
    if not settings.dev_insecure:
        raise InsecureSecret(f"refusing to start: {reason}; {HOW_TO_FIX}")
    log.warning(
        "INSECURE_JWT_SECRET",
        reason=reason,
        consequence="anyone who knows this value can sign tokens as any user, admin included",
        because="FIELDSYNC_DEV_INSECURE=1",
    )
    return SecretStr(given)
