"""Service settings, read once from the environment (prefix ``FIELDSYNC_``) at start-up.

Build one :class:`Settings` in the app factory or the CLI and pass it down; nothing reads the
environment anywhere else. ``COUCHDB_URL`` (no prefix, as DESIGN.md names it) selects an external
CouchDB with admin credentials in the URL; when it is unset the embedded PouchDB Server starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of the service; each field documents its environment variable."""

    model_config = SettingsConfigDict(env_prefix="FIELDSYNC_", extra="ignore")

    # Serving
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(
        default=None,
        description="Absolute base URL devices use (for sync_url); default http://host:port",
    )

    # Storage
    couchdb_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("COUCHDB_URL", "FIELDSYNC_COUCHDB_URL"),
        description="External CouchDB 3 with admin credentials; unset = embedded PouchDB Server",
    )
    data_dir: Path = REPO_ROOT / "var"
    embedded_node_modules: Path = REPO_ROOT / "couchdb_embedded" / "node_modules"
    embedded_port: int = 0  # 0 = a free port chosen at start-up
    db_prefix: str = Field(default="", description="Prefix of every database name (tests, tenants)")
    couch_timeout_s: float = 30.0
    couch_max_connections: int = 200

    # Auth
    admin_password: SecretStr | None = None
    # unset: generated in the data folder with the embedded store, refused with an external one;
    # short or published values are refused (auth/secret.py)
    jwt_secret: SecretStr | None = None
    # FIELDSYNC_DEV_INSECURE=1: start despite an insecure secret, warning loudly (development)
    dev_insecure: bool = False
    token_ttl_s: int = 12 * 3600
    # argon2id cost (argon2-cffi's defaults, RFC 9106 low-memory); lower only for tests
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536

    # Browser and hybrid apps (sync_gateway/rest/cors.py, session.py): the exact origins allowed
    # to call /sync and /api with credentials (comma-separated or a JSON list; empty = no CORS),
    # how long a browser may cache a preflight, and the SameSite of the /sync session cookie
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_max_age_s: int = Field(default=600, ge=0, le=86_400)  # CouchDB's default
    session_cookie_samesite: Literal["none", "lax", "strict"] = "none"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                value = json.loads(text)
            else:
                value = [part for part in text.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ValueError("FIELDSYNC_CORS_ORIGINS is a comma-separated list of origins")
        return [normalize_origin(str(origin)) for origin in value]

    # Gateway limits (413 beyond them)
    max_document_bytes: int = 1_000_000
    max_request_bytes: int = 32_000_000
    max_batch_docs: int = 2_000

    # Workers
    run_workers: bool = True
    activity_flush_s: float = 5.0  # how often device last pull / push times are written
    # The router learns of writes from the store (_db_updates, or a feed per database); its
    # safety-net sweep starts a round over its rep databases this often, reading at most
    # router_sweep_per_s of them a second (a cost that does not grow with the users)
    router_poll_s: float = 300.0
    router_sweep_per_s: float = Field(default=2.0, gt=0)
    # router workers share the users by leases in fs_ops (renewed every third of this; a
    # stopped worker's users are taken over within ttl + ttl/3)
    router_lease_ttl_s: float = Field(default=15.0, gt=0)
    seed_demo: bool = False
    # first-sync snapshots (sync_gateway/snapshots/policy.py): none below min_docs documents;
    # rebuilt after rebuild_changes updates, or after max_age_s when anything changed; the
    # builder (with the workers) checks every check_s
    snapshot_min_docs: int = 1000
    snapshot_rebuild_changes: int = 1000
    snapshot_max_age_s: float = 6 * 3600.0
    snapshot_check_s: float = 60.0

    # Notifications: FCM push (none without credentials: delivered to the log), the outbox
    # dispatcher and the scheduled jobs (run by the one process holding the lease)
    google_application_credentials: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "GOOGLE_APPLICATION_CREDENTIALS", "FIELDSYNC_GOOGLE_APPLICATION_CREDENTIALS"
        ),
        description="Firebase service-account JSON; unset = push disabled (log sender)",
    )

    @field_validator("google_application_credentials", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """``GOOGLE_APPLICATION_CREDENTIALS=`` (empty, as compose files write it) means unset,
        not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    fcm_project_id: str | None = None  # default: the service account's project
    fcm_endpoint: str | None = None  # replaces https://fcm.googleapis.com (emulator, tests)
    run_scheduler: bool = True  # dispatch and the jobs, in whichever process holds the lease
    notify_dispatch_s: float = 5.0  # dispatch round interval (new entries are sent at once)
    scheduler_lease_ttl_s: float = 60.0  # renewed every third of it; taken over when expired
    sse_heartbeat_s: float = 15.0  # comment lines that keep idle event streams open

    # Outgoing webhook: one signed POST per newly submitted order (none when the URL is unset;
    # the URL needs the secret too). Retries with exponential back-off, then gives up (dead).
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None  # HMAC-SHA256 key of X-Fieldsync-Signature
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_backoff_s: float = Field(default=5.0, gt=0)  # first retry; doubles per attempt
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)  # per POST

    def public_base(self) -> str:
        """The base URL a device reaches this service at."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


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
