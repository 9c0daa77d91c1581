"""Choosing the sender at start-up: the log without credentials, FCM with a credentials file."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import firebase_admin
import pytest
from fake_fcm import FakeFcm

from notifications.sender import FcmSender, LogSender, Outcome, PushMessage, make_sender


async def test_without_credentials_messages_go_to_the_log() -> None:
    sender = make_sender(None, environ={})
    assert isinstance(sender, LogSender) and sender.name == "log"
    results = await sender.send([PushMessage("tok", "T", "B"), PushMessage("tok2", "T", "B")])
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]
    assert [m.token for m in sender.sent] == ["tok", "tok2"]


async def test_credentials_from_the_environment_send_through_fcm(
    fcm: FakeFcm, tmp_path: Path
) -> None:
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(fcm.service_account()))
    name = f"test-{uuid.uuid4().hex}"
    sender = make_sender(
        environ={"GOOGLE_APPLICATION_CREDENTIALS": str(path)}, endpoint=fcm.url, app_name=name
    )
    try:
        assert isinstance(sender, FcmSender)
        [result] = await sender.send([PushMessage("tok-1", "Hello", "there", {"k": "v"})])
        assert result.outcome is Outcome.SENT
        assert result.message_id == f"projects/{fcm.project}/messages/1"
        assert fcm.token_requests == 1  # a real OAuth exchange with the signed JWT
        fcm.answer("tok-2", "UNREGISTERED")
        [gone] = await sender.send([PushMessage("tok-2", "Hello", "there")])
        assert gone.outcome is Outcome.TOKEN_GONE and gone.error
    finally:
        await sender.aclose()
    with pytest.raises(ValueError):
        firebase_admin.get_app(name)
