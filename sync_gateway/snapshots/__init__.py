"""First-sync snapshots: a field user's database as one download in pouchdb-replication-stream's
format, built in the background, stored in ``fs_ops``, served by ``rest/snapshot.py``.

    policy.py   when a snapshot is (re)built and when a served one is stale (pure)
    dump.py     the dump format and the writer that reads it out of CouchDB
    store.py    where snapshots live (an attachment of ``snapshot:<user>`` in fs_ops)
    builder.py  the background worker that keeps them fresh

Errors::

    SnapshotError
     └── SnapshotMissing   the user has no snapshot (yet)
"""

from __future__ import annotations


class SnapshotError(Exception):
    """Base of every snapshot error."""


class SnapshotMissing(SnapshotError):
    """No snapshot of this user's database exists (yet)."""
