"""Push senders: FCM through firebase-admin, or the log when there are no credentials.

A sender takes :class:`PushMessage` s (one per device token) and answers one :class:`SendResult`
per message, in order. Outcomes:

    SENT        FCM accepted the message (``message_id`` is its name)
    TOKEN_GONE  the token is dead: UNREGISTERED, INVALID_ARGUMENT, SENDER_ID_MISMATCH
                -> the dispatcher removes it from the device document
    RETRY       transient: UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED / RESOURCE_EXHAUSTED,
                DEADLINE_EXCEEDED, UNKNOWN, UNAUTHENTICATED (an access token hiccup)
    FAILED      anything else (e.g. THIRD_PARTY_AUTH_ERROR): retrying will not help

``FcmSender`` calls ``messaging.send_each`` (synchronous, a thread per message inside
firebase-admin) in a worker thread via ``asyncio.to_thread``. ``endpoint`` replaces the
``https://fcm.googleapis.com`` origin of the FCM HTTP v1 URL, for an emulator or the tests' local
fake; firebase-admin has no public setting for it, so :func:`_point_at` sets the messaging
service's URL and fails loudly if a firebase-admin upgrade renames it.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import firebase_admin  # type: ignore[import-untyped]
import structlog
from firebase_admin import credentials, exceptions, messaging

log = structlog.get_logger(__name__)

MAX_BATCH = 500  # send_each's limit
FCM_ORIGIN = "https://fcm.googleapis.com"
TRANSIENT_CODES = frozenset(
    {
        exceptions.UNAVAILABLE,
        exceptions.INTERNAL,
        exceptions.RESOURCE_EXHAUSTED,
        exceptions.DEADLINE_EXCEEDED,
        exceptions.UNKNOWN,
        exceptions.UNAUTHENTICATED,
    }
)


class Outcome(enum.StrEnum):
    SENT = "sent"
    TOKEN_GONE = "token_gone"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class PushMessage:
    """One message to one device token."""

    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str | None = None
    data_only: bool = False


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    message_id: str | None = None
    error: str | None = None


class Sender(Protocol):
    """Sends up to :data:`MAX_BATCH` messages; one result per message, in order."""

    name: str

    async def send(self, messages: Sequence[PushMessage]) -> list[SendResult]: ...


def classify(error: BaseException | None) -> Outcome:
    """The outcome of one ``SendResponse`` given its exception (None: success)."""
    if error is None:
        return Outcome.SENT
    if isinstance(
        error,
        messaging.UnregisteredError
        | messaging.SenderIdMismatchError
        | exceptions.InvalidArgumentError,
    ):
        return Outcome.TOKEN_GONE
    if isinstance(error, messaging.QuotaExceededError):
        return Outcome.RETRY
    if isinstance(error, messaging.ThirdPartyAuthError):
        # UNAUTHENTICATED on the wire, but about our APNs / web push keys: retrying cannot help.
        return Outcome.FAILED
    code = getattr(error, "code", None)
    if code in TRANSIENT_CODES:
        return Outcome.RETRY
    return Outcome.FAILED


def build_message(push: PushMessage) -> messaging.Message:
    """The FCM message: data always; a visible notification unless data-only; collapse keys."""
    notification = None if push.data_only else messaging.Notification(push.title, push.body)
    android = messaging.AndroidConfig(
        collapse_key=push.collapse_key,
        priority="normal" if push.data_only else "high",
    )
    headers = {"apns-priority": "5" if push.data_only else "10"}
    if push.collapse_key:
        headers["apns-collapse-id"] = push.collapse_key[:64]
    # A silent iOS push needs content-available and the background push type.
    payload = messaging.APNSPayload(aps=messaging.Aps(content_available=True))
    apns = messaging.APNSConfig(
        headers={**headers, "apns-push-type": "background" if push.data_only else "alert"},
        payload=payload if push.data_only else None,
    )
    with warnings.catch_warnings():
        # firebase-admin 7 deprecates ``token`` for ``fid``; devices register FCM registration
        # tokens (DESIGN: ``fcm_token``), which FCM v1 still takes as ``token``.
        warnings.simplefilter("ignore", DeprecationWarning)
        return messaging.Message(
            token=push.token,
            data=dict(push.data),
            notification=notification,
            android=android,
            apns=apns,
        )


def _point_at(app: firebase_admin.App, endpoint: str) -> None:
    service = messaging._get_messaging_service(app)
    url = getattr(service, "_fcm_url", None)
    if not isinstance(url, str) or not url.startswith(FCM_ORIGIN):
        raise RuntimeError("this firebase-admin version does not expose the FCM URL to redirect")
    service._fcm_url = endpoint.rstrip("/") + url[len(FCM_ORIGIN) :]


class FcmSender:
    """Sends through firebase-admin's ``messaging.send_each`` on the given app."""

    name = "fcm"

    def __init__(self, app: firebase_admin.App, *, endpoint: str | None = None) -> None:
        self.app = app
        if endpoint:
            _point_at(app, endpoint)

    async def aclose(self) -> None:
        """Delete the firebase app. In a thread: its clean-up calls ``asyncio.run``, which
        cannot run inside the service's event loop."""
        await asyncio.to_thread(firebase_admin.delete_app, self.app)

    async def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        if len(messages) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} messages per batch, got {len(messages)}")
        if not messages:
            return []
        built = [build_message(m) for m in messages]
        try:
            batch = await asyncio.to_thread(messaging.send_each, built, False, self.app)
        except exceptions.FirebaseError as exc:
            # The batch as a whole failed (firebase-admin's own error): try again later.
            log.warning("fcm_batch_failed", error=str(exc), messages=len(messages))
            return [SendResult(Outcome.RETRY, error=str(exc)) for _ in messages]
        out: list[SendResult] = []
        for response in batch.responses:
            error = response.exception
            outcome = classify(error)
            detail = None if error is None else f"{getattr(error, 'code', '')}: {error}"
            out.append(SendResult(outcome, response.message_id, detail))
        return out


class LogSender:
    """No credentials: every message is "delivered" to the log and counts as sent."""

    name = "log"

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.sent: list[PushMessage] = []

    async def aclose(self) -> None:
        pass

    async def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        out = []
        for message in messages:
            log.info(
                "push_to_log",
                token=message.token[:12] + "...",
                title=message.title,
                data=message.data,
                data_only=message.data_only,
            )
            self.sent.append(message)
            out.append(SendResult(Outcome.SENT, f"log/{next(self._ids)}"))
        return out


@dataclass(frozen=True)
class FcmConfig:
    """Where push goes: the Firebase service-account file (None: the log sender), the project
    (default: the service account's) and the FCM origin (None: ``FCM_ORIGIN``; an emulator)."""

    credentials_path: str | None = None
    project_id: str | None = None
    endpoint: str | None = None


def sender_for(config: FcmConfig, *, app_name: str = "fieldsync") -> FcmSender | LogSender:
    """:func:`make_sender` for a config; the environment is not read again."""
    return make_sender(
        config.credentials_path,
        project_id=config.project_id,
        endpoint=config.endpoint,
        app_name=app_name,
        environ={},
    )


def make_sender(
    credentials_path: str | None = None,
    *,
    project_id: str | None = None,
    endpoint: str | None = None,
    app_name: str = "fieldsync",
    environ: dict[str, str] | None = None,
) -> FcmSender | LogSender:
    """FCM with the service-account file at ``credentials_path`` (else
    ``GOOGLE_APPLICATION_CREDENTIALS``), or the log sender when there is none; says which."""
    env: Any = os.environ if environ is None else environ
    path = credentials_path or env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        log.warning(
            "push_disabled",
            reason="no Firebase credentials (GOOGLE_APPLICATION_CREDENTIALS unset)",
            effect="notifications are recorded as delivered to the log, not pushed",
        )
        return LogSender()
    options = {"projectId": project_id} if project_id else {}
    try:
        app = firebase_admin.get_app(app_name)
    except ValueError:
        app = firebase_admin.initialize_app(credentials.Certificate(path), options, name=app_name)
    log.info("push_enabled", project=app.project_id, endpoint=endpoint or FCM_ORIGIN)
    return FcmSender(app, endpoint=endpoint)
