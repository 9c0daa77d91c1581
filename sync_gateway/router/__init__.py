"""The router: copies documents between the shared databases and each field user's database.

- :mod:`.rules` — where each document goes (pure);
- :mod:`.assignments` — the in-memory assignment index and its membership deltas (pure);
- :mod:`.copier` — batched copies with ``new_edits=false`` and the router's tombstones;
- :mod:`.checkpoints` — where each feed stopped (``_local`` docs in fs_ops);
- :mod:`.discovery` — how writes to rep databases are found (``_db_updates``, per-db feeds);
- :mod:`.leases` — which worker owns which users and the fan-out (leases in fs_ops);
- :mod:`.drains` — which rep databases to drain and when (reports, the safety-net sweep);
- :mod:`.fanout`, :mod:`.fanin`, :mod:`.reconcile` — the router's three jobs: shared changes
  to the users, the users' writes back, a user's database made to match the index;
- :mod:`.state` — what the router remembers, one object per database; :mod:`.context` — what
  the jobs share; :mod:`.emitter` — the events it sends; :mod:`.settle` — a push let settle;
- :mod:`.worker` — :class:`Router`, the coordinator (``run``, ``run_once``, ``stop``).

Run it alone with ``python -m sync_gateway.router [--once]``.
"""

from .assignments import Assignments, Delta
from .rules import EVERYONE, NOBODY, Targets, fan_in_target, fan_out_targets
from .worker import Router

__all__ = [
    "EVERYONE",
    "NOBODY",
    "Assignments",
    "Delta",
    "Router",
    "Targets",
    "fan_in_target",
    "fan_out_targets",
]
