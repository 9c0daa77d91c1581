"""The sync gateway's own configuration: a plain pydantic model, no environment reading.

The composition root (``field_api.settings.Settings``, the one class that reads ``FIELDSYNC_*``
and ``COUCHDB_URL``) builds a :class:`GatewayConfig` at start-up and passes it down, through
:class:`~sync_gateway.runtime.Runtime`. Each field has the name of its environment variable
without the prefix (``max_request_bytes`` is ``FIELDSYNC_MAX_REQUEST_BYTES``); field_api's
settings document them. What the gateway does not own (webhooks, FCM push, the notification
scheduler, server-sent events, demo data, which workers run) is not here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

REPO_ROOT = Path(__file__).resolve().parent.parent


class GatewayConfig(BaseModel):
    """Every knob of the gateway, its router and its snapshots (defaults are the service's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # the absolute base URL devices reach the service at (for sync_url, own-origin checks)
    public_base: str = "http://127.0.0.1:8000"

    # Storage: an external CouchDB 3 with admin credentials, or (None) the embedded one
    couchdb_url: str | None = None
    data_dir: Path = REPO_ROOT / "var"
    embedded_node_modules: Path = REPO_ROOT / "couchdb_embedded" / "node_modules"
    embedded_port: int = 0  # 0 = a free port chosen at start-up
    db_prefix: str = ""
    couch_timeout_s: float = 30.0
    couch_max_connections: int = 200

    # Auth (the secret is resolved by auth/secret.py before the config is built)
    jwt_secret: SecretStr | None = None
    dev_insecure: bool = False
    token_ttl_s: int = 12 * 3600
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536

    # Browser and hybrid apps (rest/cors.py, rest/cookies.py): normalized exact origins
    cors_origins: tuple[str, ...] = ()
    cors_max_age_s: int = Field(default=600, ge=0, le=86_400)
    session_cookie_samesite: Literal["none", "lax", "strict"] = "none"

    # Gateway limits (413 beyond them)
    max_document_bytes: int = 1_000_000
    max_request_bytes: int = 32_000_000
    max_batch_docs: int = 2_000

    # Device activity, the router, first-sync snapshots
    activity_flush_s: float = 5.0
    router_poll_s: float = 300.0
    router_sweep_per_s: float = Field(default=2.0, gt=0)
    router_lease_ttl_s: float = Field(default=15.0, gt=0)
    snapshot_min_docs: int = 1000
    snapshot_rebuild_changes: int = 1000
    snapshot_max_age_s: float = 6 * 3600.0
    snapshot_check_s: float = 60.0


DEFAULTS = GatewayConfig()
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str:
    """An origin as browsers send it (``scheme://host[:port]``, lower case, no default port),
    or ValueError saying what is wrong with it. A wildcard is refused: the gateway allows
    credentials (cookies, Authorization), and ``*`` would let every web site act as whoever
    is signed in in the browser."""
    text = origin.strip().rstrip("/")
    if text == "*" or "*" in text:
        raise ValueError(
            "FIELDSYNC_CORS_ORIGINS lists exact origins; '*' is not allowed together with "
            "credentials (list each app origin, e.g. https://app.example.com)"
        )
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc or parts.path or parts.query or parts.fragment:
        raise ValueError(
            f"{origin!r} is not an origin: write scheme://host[:port] with no path "
            "(e.g. https://app.example.com, capacitor://localhost)"
        )
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if parts.username or parts.password or not host:
        raise ValueError(f"{origin!r} is not an origin: write scheme://host[:port]")
    port = parts.port
    if port is None or DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
