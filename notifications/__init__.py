"""notifications: push (FCM), the durable outbox, scheduled jobs and live events.

Takes its store (a CouchDB client, :class:`notifications.store.DocStore`) and its sender as
arguments; imports only ``mobile_schema``. Modules, each stating its contract:

- ``events``     event kinds, :class:`Event`, pure ``render``, ``sync_now`` (debounced hint)
- ``outbox``     ``outbox:<id>`` entries in the ops db + ``notification:<id>`` in rep dbs
- ``sender``     :class:`FcmSender` (firebase-admin ``send_each``), :class:`LogSender`,
                 ``make_sender`` (log sender without credentials, said at start-up)
- ``tokens``     device FCM tokens in ``device:<user>:<device>`` documents; pruning
- ``dispatcher`` claims, sends in batches, back-off, dead letters (at-most-once visible pushes)
- ``lease``      the ``lease:scheduler`` document: one process runs the jobs
- ``jobs``       the scheduled jobs and the APScheduler scheduler guarded by the lease
- ``live``       in-process pub/sub with replay for server-sent events
- ``mapping``    pure: router / resolver reports → events, change rows → live data
- ``audience``   who sees which live topic, by role
- ``followers``  change-feed followers that feed the live hub
- ``notifier``   :class:`Notifier`: the services of one process, router events → outbox
- ``listing``    the outbox as support sees it (``GET /api/v1/notifications``)

The composition root (``field_api.notify``) builds the :class:`Notifier` and connects the router
and the resolver to it; nothing else of the notification domain lives outside this package.
"""
