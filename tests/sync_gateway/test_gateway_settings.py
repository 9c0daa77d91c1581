"""Settings read from the environment."""

from __future__ import annotations

import pytest

from sync_gateway.settings import Settings


def test_empty_firebase_credentials_mean_push_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose files write ``GOOGLE_APPLICATION_CREDENTIALS=`` for "none": that must not be read
    as the current directory (start-up then failed opening it)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
    assert Settings().google_application_credentials is None
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/run/secrets/fcm.json")
    assert str(Settings().google_application_credentials) == "/run/secrets/fcm.json"
