"""The logic behind the API routes, kept out of the HTTP handlers (which parse, call, render).

    documents.py    reading, stamping and writing documents with per-document retries
    masterdata.py   back-office bulk upserts (products, accounts, contacts, price lists)
                    and territories (accounts and reps of a territory) in fs_master
    assignments.py  visits and work orders in fs_field, assigned to field users

Services raise :mod:`field_api.problems` errors, which the app renders as problem+json.
"""
