"""Settings read from the environment (field_api/settings.py), and the per-package configs
built from them: the variable names the README and docs give keep working, and each reaches
the package that owns it."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from field_api.settings import Settings
from sync_gateway.config import REPO_ROOT, GatewayConfig

# documented names that are not settings of the service: read by the console's asset route and
# the test helpers (FIELDSYNC_NODE_MODULES), by the tests (HYPOTHESIS_PROFILE), or a family
# written with a trailing underscore in prose (FIELDSYNC_WEBHOOK_)
NOT_SETTINGS = {"FIELDSYNC_NODE_MODULES", "FIELDSYNC_HYPOTHESIS_PROFILE", "FIELDSYNC_WEBHOOK_"}
ENV_NAME = re.compile(r"\b(?:FIELDSYNC_[A-Z0-9_]+|COUCHDB_URL|GOOGLE_APPLICATION_CREDENTIALS)\b")


def documented_names() -> set[str]:
    texts = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    found = {name for path in texts for name in ENV_NAME.findall(path.read_text())}
    return found - NOT_SETTINGS


def env_names() -> set[str]:
    """Every environment variable Settings reads."""
    names: set[str] = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if alias is not None and hasattr(alias, "choices"):
            names.update(str(choice) for choice in alias.choices)
        else:
            names.add(f"FIELDSYNC_{name.upper()}")
    return names


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from the defaults, whatever the suite runs with (COUCHDB_URL, ...)."""
    for name in env_names():
        monkeypatch.delenv(name, raising=False)


def test_every_documented_variable_is_read() -> None:
    documented = documented_names()
    assert len(documented) > 30  # the README's tables were found
    assert documented - env_names() == set()


# variable, value, where its package sees it (the config builder and field), the value there
ROUTES: list[tuple[str, str, str, Any]] = [
    ("COUCHDB_URL", "http://a:b@db:5984", "gateway.couchdb_url", "http://a:b@db:5984"),
    ("FIELDSYNC_DB_PREFIX", "t_", "gateway.db_prefix", "t_"),
    ("FIELDSYNC_PUBLIC_URL", "https://fs.example/", "gateway.public_base", "https://fs.example"),
    ("FIELDSYNC_PORT", "18123", "gateway.public_base", "http://127.0.0.1:18123"),
    ("FIELDSYNC_MAX_REQUEST_BYTES", "1234", "gateway.max_request_bytes", 1234),
    ("FIELDSYNC_MAX_BATCH_DOCS", "7", "gateway.max_batch_docs", 7),
    ("FIELDSYNC_TOKEN_TTL_S", "60", "gateway.token_ttl_s", 60),
    (
        "FIELDSYNC_CORS_ORIGINS",
        "https://App.example:443,capacitor://localhost",
        "gateway.cors_origins",
        ("https://app.example", "capacitor://localhost"),
    ),
    ("FIELDSYNC_SESSION_COOKIE_SAMESITE", "lax", "gateway.session_cookie_samesite", "lax"),
    ("FIELDSYNC_ROUTER_POLL_S", "0.5", "gateway.router_poll_s", 0.5),
    ("FIELDSYNC_SNAPSHOT_MIN_DOCS", "0", "gateway.snapshot_min_docs", 0),
    ("FIELDSYNC_ACTIVITY_FLUSH_S", "2", "gateway.activity_flush_s", 2.0),
    ("FIELDSYNC_RUN_SCHEDULER", "false", "notifier.run_scheduler", False),
    ("FIELDSYNC_NOTIFY_DISPATCH_S", "0.2", "notifier.dispatch_interval_s", 0.2),
    ("FIELDSYNC_SCHEDULER_LEASE_TTL_S", "3", "notifier.lease_ttl_s", 3.0),
    ("GOOGLE_APPLICATION_CREDENTIALS", "/run/fcm.json", "fcm.credentials_path", "/run/fcm.json"),
    ("FIELDSYNC_FCM_PROJECT_ID", "p-1", "fcm.project_id", "p-1"),
    ("FIELDSYNC_FCM_ENDPOINT", "http://127.0.0.1:9", "fcm.endpoint", "http://127.0.0.1:9"),
    ("FIELDSYNC_WEBHOOK_URL", "http://erp/other", "webhook.url", "http://erp/other"),
    ("FIELDSYNC_WEBHOOK_MAX_ATTEMPTS", "3", "webhook.max_attempts", 3),
    ("FIELDSYNC_SSE_HEARTBEAT_S", "0.3", "events.heartbeat_s", 0.3),
    ("FIELDSYNC_RUN_WORKERS", "false", ".run_workers", False),
    ("FIELDSYNC_SEED_DEMO", "true", ".seed_demo", True),
]


def seen(settings: Settings, where: str) -> Any:
    builder, name = where.split(".")
    config = getattr(settings, builder)() if builder else settings
    return getattr(config, name)


@pytest.mark.parametrize(("name", "value", "where", "expected"), ROUTES, ids=[r[0] for r in ROUTES])
def test_a_variable_reaches_its_package(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, where: str, expected: Any
) -> None:
    monkeypatch.setenv("FIELDSYNC_WEBHOOK_URL", "http://erp/hook")  # the webhook's rows need it
    monkeypatch.setenv("FIELDSYNC_WEBHOOK_SECRET", "k")
    assert seen(Settings(), where) != expected
    monkeypatch.setenv(name, value)
    assert seen(Settings(), where) == expected


def test_the_gateway_knows_only_its_own_knobs() -> None:
    foreign = ("webhook", "fcm", "google", "seed_demo", "sse", "run_scheduler", "notify_")
    foreign += ("scheduler", "run_workers")
    assert [f for f in GatewayConfig.model_fields if f.startswith(foreign)] == []
    # and every gateway knob is a setting of the same name (so its variable is FIELDSYNC_<name>)
    assert set(GatewayConfig.model_fields) - {"public_base"} <= set(Settings.model_fields)


def test_only_the_composition_root_reads_the_environment() -> None:
    """No package but field_api has a pydantic-settings class or reads os.environ."""
    readers = []
    for package in ("sync_gateway", "notifications", "conflict", "mobile_schema"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == "pydantic_settings":
                    readers.append(f"{path.relative_to(REPO_ROOT)}: pydantic_settings")
                if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                    readers.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    # make_sender's fallback to GOOGLE_APPLICATION_CREDENTIALS for callers outside the service
    # (the service passes environ={}: sender_for)
    assert readers == ["notifications/sender.py:" + str(_sender_environ_line())]


def _sender_environ_line() -> int:
    text = (REPO_ROOT / "notifications" / "sender.py").read_text().splitlines()
    return next(i for i, line in enumerate(text, 1) if "os.environ" in line)


def test_empty_firebase_credentials_mean_push_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose files write ``GOOGLE_APPLICATION_CREDENTIALS=`` for "none": that must not be read
    as the current directory (start-up then failed opening it)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
    assert Settings().fcm().credentials_path is None
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/run/secrets/fcm.json")
    assert Settings().fcm().credentials_path == "/run/secrets/fcm.json"


def test_the_defaults_are_the_gateways() -> None:
    """One source for each default: unset, every gateway knob has the gateway's default."""
    assert Settings().gateway() == GatewayConfig()
