"""The service's settings: the one class that reads the environment (prefix ``FIELDSYNC_``).

Built once by the CLI (or a test) and handed to ``create_app`` / the workers; nothing else reads
the environment. ``COUCHDB_URL`` (no prefix, as DESIGN.md names it) selects an external CouchDB
with admin credentials in the URL; when it is unset the embedded PouchDB Server starts.
``GOOGLE_APPLICATION_CREDENTIALS`` (no prefix either) is Firebase's own name.

Each package takes a small config object of its own, built here; a field's environment
variable is its name with the prefix, whoever owns it:

    gateway()    sync_gateway.config.GatewayConfig   serving, storage, auth, limits, router,
                                                     snapshots
    notifier()   notifications.notifier.NotifierConfig   run_scheduler, notify_dispatch_s,
                                                         scheduler_lease_ttl_s
    fcm()        notifications.sender.FcmConfig      google_application_credentials,
                                                     fcm_project_id, fcm_endpoint
    webhook()    field_api.webhooks.WebhookConfig    webhook_* (None without a URL)
    events()     field_api.routes.events.EventsConfig  sse_heartbeat_s
    (here)       host, port, run_workers, seed_demo, admin_password: the composition root's
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from notifications.notifier import NotifierConfig
from notifications.sender import FcmConfig
from sync_gateway.config import DEFAULTS as GW
from sync_gateway.config import GatewayConfig, normalize_origin

from .webhooks import WebhookConfig

if TYPE_CHECKING:
    from .routes.events import EventsConfig

NOTIFY = NotifierConfig()


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
    data_dir: Path = GW.data_dir
    embedded_node_modules: Path = GW.embedded_node_modules
    embedded_port: int = GW.embedded_port  # 0 = a free port chosen at start-up
    db_prefix: str = Field(
        default=GW.db_prefix, description="Prefix of every database name (tests, tenants)"
    )
    couch_timeout_s: float = GW.couch_timeout_s
    couch_max_connections: int = GW.couch_max_connections

    # Auth
    admin_password: SecretStr | None = None
    # unset: generated in the data folder with the embedded store, refused with an external one;
    # short or published values are refused (sync_gateway/auth/secret.py)
    jwt_secret: SecretStr | None = None
    # FIELDSYNC_DEV_INSECURE=1: start despite an insecure secret, warning loudly (development)
    dev_insecure: bool = False
    token_ttl_s: int = GW.token_ttl_s
    # argon2id cost (argon2-cffi's defaults, RFC 9106 low-memory); lower only for tests
    argon2_time_cost: int = GW.argon2_time_cost
    argon2_memory_kib: int = GW.argon2_memory_kib

    # Browser and hybrid apps (sync_gateway/rest/cors.py, session.py): the exact origins allowed
    # to call /sync and /api with credentials (comma-separated or a JSON list; empty = no CORS),
    # how long a browser may cache a preflight, and the SameSite of the /sync session cookie
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_max_age_s: int = Field(default=GW.cors_max_age_s, ge=0, le=86_400)  # CouchDB's default
    session_cookie_samesite: Literal["none", "lax", "strict"] = GW.session_cookie_samesite

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
    max_document_bytes: int = GW.max_document_bytes
    max_request_bytes: int = GW.max_request_bytes
    max_batch_docs: int = GW.max_batch_docs

    # Workers
    run_workers: bool = True
    activity_flush_s: float = GW.activity_flush_s  # how often device pull / push times are written
    # The router learns of writes from the store (_db_updates, or a feed per database); its
    # safety-net sweep starts a round over its rep databases this often, reading at most
    # router_sweep_per_s of them a second (a cost that does not grow with the users)
    router_poll_s: float = GW.router_poll_s
    router_sweep_per_s: float = Field(default=GW.router_sweep_per_s, gt=0)
    # router workers share the users by leases in fs_ops (renewed every third of this; a
    # stopped worker's users are taken over within ttl + ttl/3)
    router_lease_ttl_s: float = Field(default=GW.router_lease_ttl_s, gt=0)
    seed_demo: bool = False
    # first-sync snapshots (sync_gateway/snapshots/policy.py): none below min_docs documents;
    # rebuilt after rebuild_changes updates, or after max_age_s when anything changed; the
    # builder (with the workers) checks every check_s
    snapshot_min_docs: int = GW.snapshot_min_docs
    snapshot_rebuild_changes: int = GW.snapshot_rebuild_changes
    snapshot_max_age_s: float = GW.snapshot_max_age_s
    snapshot_check_s: float = GW.snapshot_check_s

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
    # dispatch and the jobs, in whichever process holds the lease
    run_scheduler: bool = NOTIFY.run_scheduler
    # dispatch round interval (new entries are sent at once)
    notify_dispatch_s: float = NOTIFY.dispatch_interval_s
    scheduler_lease_ttl_s: float = NOTIFY.lease_ttl_s  # renewed every third; taken over expired
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

    # -- the per-package configs ----------------------------------------------------------

    def gateway(self) -> GatewayConfig:
        """The sync gateway's config (its field names are ours)."""
        derived: dict[str, Any] = {
            "public_base": self.public_base(),
            "cors_origins": tuple(self.cors_origins),
        }
        same = {n: getattr(self, n) for n in GatewayConfig.model_fields if n not in derived}
        return GatewayConfig.model_validate({**same, **derived})

    def notifier(self) -> NotifierConfig:
        return NotifierConfig(
            run_scheduler=self.run_scheduler,
            dispatch_interval_s=self.notify_dispatch_s,
            lease_ttl_s=self.scheduler_lease_ttl_s,
        )

    def fcm(self) -> FcmConfig:
        credentials = self.google_application_credentials
        return FcmConfig(
            credentials_path=str(credentials) if credentials else None,
            project_id=self.fcm_project_id,
            endpoint=self.fcm_endpoint,
        )

    def webhook(self) -> WebhookConfig | None:
        """The order webhook's config, None when no URL is set; ValueError without a secret."""
        if not self.webhook_url:
            return None
        if self.webhook_secret is None or not self.webhook_secret.get_secret_value():
            raise ValueError(
                "FIELDSYNC_WEBHOOK_URL is set but FIELDSYNC_WEBHOOK_SECRET is not: set a secret "
                "(receivers verify X-Fieldsync-Signature with it) or unset the URL"
            )
        return WebhookConfig(
            url=self.webhook_url,
            secret=self.webhook_secret.get_secret_value().encode(),
            max_attempts=self.webhook_max_attempts,
            backoff_s=self.webhook_backoff_s,
            backoff_max_s=self.webhook_backoff_max_s,
            timeout_s=self.webhook_timeout_s,
        )

    def events(self) -> EventsConfig:
        from .routes.events import EventsConfig  # the route imports the app's dependencies

        return EventsConfig(heartbeat_s=self.sse_heartbeat_s)
