"""A local fake of Google's OAuth token endpoint and the FCM HTTP v1 send endpoint.

firebase-admin talks to it exactly as to Google: it signs a JWT with the test service account's
private key and posts it to ``/token`` (the ``token_uri`` of the credential), then posts each
message to ``/v1/projects/{project}/messages:send`` with the access token. The fake checks the
JWT's signature with the public key and the bearer token, records every message and answers
success or the FCM error a test asked for, in FCM's error format.

It runs in its own thread (``ThreadingHTTPServer``) because ``send_each`` is synchronous and
sends from worker threads.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ACCESS_TOKEN = "fake-access-token"
# google-auth always names Google's token endpoint as the JWT audience, whatever token_uri is.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

# code -> (HTTP status, canonical status), as FCM answers them.
ERRORS: dict[str, tuple[int, str]] = {
    "UNREGISTERED": (404, "NOT_FOUND"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED"),
    "UNAVAILABLE": (503, "UNAVAILABLE"),
    "INTERNAL": (500, "INTERNAL"),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED"),
    # The project is not allowed to send (FCM API disabled, wrong project): no FCM error code.
    "PERMISSION_DENIED": (403, "PERMISSION_DENIED"),
}


class _Server(ThreadingHTTPServer):
    # send_each opens one connection per message at once; the default backlog of 5 would
    # reset some of them, which real FCM does not do.
    request_queue_size = 512


@dataclass
class FakeFcm:
    project: str = "fieldsync-test"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    sent: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    token_requests: int = 0
    # token -> answers to give, in order ("OK" or an ERRORS code); empty: "OK".
    answers: defaultdict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    always: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def service_account(self) -> dict[str, str]:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": uuid.uuid4().hex,
            "private_key": pem,
            "client_email": f"push@{self.project}.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": f"{self.url}/token",
        }

    def answer(self, token: str, *codes: str) -> None:
        with self.lock:
            self.answers[token].extend(codes)

    def tokens_sent(self) -> list[str]:
        """Tokens of the messages FCM accepted, in arrival order."""
        with self.lock:
            return [m["message"]["token"] for m in self.sent if m["answer"] == "OK"]

    def requests_for(self, token: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.sent if m["message"].get("token") == token]

    def _next_answer(self, token: str) -> str:
        with self.lock:
            if token in self.always:
                return self.always[token]
            queue = self.answers[token]
            return queue.popleft() if queue else "OK"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/token":
                    form = parse_qs(raw.decode())
                    assertion = form["assertion"][0]
                    # Raises (-> 500, the test fails) unless signed by the service account key.
                    jwt.decode(
                        assertion,
                        fake.key.public_key(),
                        algorithms=["RS256"],
                        audience=GOOGLE_TOKEN_AUDIENCE,
                    )
                    with fake.lock:
                        fake.token_requests += 1
                    self._reply(
                        200,
                        {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"},
                    )
                    return
                expected = f"/v1/projects/{fake.project}/messages:send"
                if self.path != expected:
                    self._reply(404, {"error": {"code": 404, "message": "no such path"}})
                    return
                if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                    self._reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                    return
                body = json.loads(raw)
                token = body["message"].get("token", "")
                code = fake._next_answer(token)
                with fake.lock:
                    fake.sent.append({**body, "answer": code})
                    fake.paths.append(self.path)
                    number = len(fake.sent)
                if code == "OK":
                    self._reply(200, {"name": f"projects/{fake.project}/messages/{number}"})
                    return
                status, canonical = ERRORS[code]
                detail = {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError"}
                self._reply(
                    status,
                    {
                        "error": {
                            "code": status,
                            "message": f"fake FCM says {code}",
                            "status": canonical,
                            "details": [{**detail, "errorCode": code}]
                            if code != "PERMISSION_DENIED"
                            else [],
                        }
                    },
                )

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
