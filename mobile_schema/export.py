"""JSON Schema export of the current document models (``fieldsync export-schemas DIR``).

Writes one file per type, ``<type>.schema.json``: a JSON Schema 2020-12 object generated from the
pydantic model at its current schema version, using the document's own field names (``_id``,
``_rev`` ...), with ``$schema``, ``title`` and ``x-schema-version``. Files are written with
sorted keys and a trailing newline so a re-export produces identical bytes and clean diffs.
The schemas describe the shape; rules that span fields (an order's ``total``, unique
``line_id``) are checked only by :func:`mobile_schema.validate_document`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mobile_schema.ids import LOCAL_ID_PATTERN
from mobile_schema.registry import CURRENT_SCHEMA_VERSION, model_for

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema_for(doc_type: str, schema_version: int | None = None) -> dict[str, Any]:
    """The JSON Schema of ``doc_type`` (at the current schema version when None)."""
    model = model_for(doc_type, schema_version)
    schema = model.model_json_schema(by_alias=True, mode="validation")
    # The prefix rule lives in a validator; spell it out for JSON Schema users.
    schema["properties"]["_id"]["pattern"] = f"^{doc_type}:{LOCAL_ID_PATTERN[1:]}"
    version = CURRENT_SCHEMA_VERSION[doc_type] if schema_version is None else schema_version
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": doc_type,
        "x-schema-version": version,
        **{key: value for key, value in schema.items() if key != "title"},
    }


def export_json_schemas(directory: Path) -> list[Path]:
    """Write ``<type>.schema.json`` for every type into ``directory`` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for doc_type in sorted(CURRENT_SCHEMA_VERSION):
        path = directory / f"{doc_type}.schema.json"
        text = json.dumps(json_schema_for(doc_type), indent=2, sort_keys=True, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")
        written.append(path)
    return written
