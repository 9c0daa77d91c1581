"""Errors of the conflict package.

Every error the merge functions raise derives from one base class, so a caller (the resolver,
the gateway) can catch the whole family at once::

    ConflictError
    ├── NoLeavesError          merge called with no leaf revision at all
    ├── MixedDocumentsError    leaves that belong to different document ids
    ├── InvalidRevisionError   a revision id that is not "<generation>-<hash>"
    └── UnmergeableError       a body the merge cannot read (e.g. a money field that is no number)
"""

from __future__ import annotations


class ConflictError(Exception):
    """Base class of every error raised by :mod:`conflict`."""


class NoLeavesError(ConflictError):
    """A merge needs at least one leaf revision."""


class MixedDocumentsError(ConflictError):
    """The leaves given to one merge carry different ``_id`` values."""


class InvalidRevisionError(ConflictError):
    """A revision id is not of the form ``<generation>-<hash>``."""


class UnmergeableError(ConflictError):
    """A leaf body holds a value the merge rules cannot interpret."""
