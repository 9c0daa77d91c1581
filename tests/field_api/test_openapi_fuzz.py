"""schemathesis against the service's own OpenAPI document: no 5xx on any generated input.

The service runs in the test's event loop (service_factory); schemathesis sends its requests
synchronously, so it runs in a worker thread while the loop keeps serving. Every operation
gets :data:`EXAMPLES` generated cases per mode (valid and invalid ones; no shrinking, deadline
off), sent as the admin with a bearer token; every 5xx is collected with the request that
caused it (as a curl command) and reported together. ``/api/v1/events`` is a server-sent event
stream that never ends, so it is left out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from support.world import World, add_user, login

EXAMPLES = 20  # per operation and generation mode
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
SKIP = {"/api/v1/events"}


class Fuzz:
    """Sends generated cases of one operation at a time; remembers the 5xx answers."""

    def __init__(self, token: str) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}
        self.failures: list[str] = []
        self.sent = 0

    def operation(self, operation: Any, mode: GenerationMode) -> None:
        seen: list[str] = []

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            response = case.call(headers=self.headers, timeout=60)
            self.sent += 1
            if response.status_code >= 500 and len(seen) < 3:
                seen.append(
                    f"{operation.label} ({mode.value}) -> {response.status_code} "
                    f"{response.text[:300]!r}\n"
                    f"  {case.as_curl_command(headers=self.headers)}"
                )

        try:
            check()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing to make invalid (an operation without parameters or body)
        self.failures.extend(seen)


def fuzz(base_url: str, token: str) -> Fuzz:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    run = Fuzz(token)
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path not in SKIP:
            for mode in MODES:
                run.operation(operation, mode)
    return run


async def test_no_5xx_on_generated_requests(service_factory: Any) -> None:
    service = await service_factory(run_workers=False)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    for user_id, role in (("alice", "rep"), ("max", "manager")):
        await add_user(world, user_id, role)
    run = await asyncio.to_thread(fuzz, service.url, world.admin_token)
    assert run.sent > 500, run.sent
    assert not run.failures, "server errors:\n" + "\n".join(run.failures)
