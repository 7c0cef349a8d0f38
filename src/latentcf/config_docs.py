"""Render config/README.md from the JSON schemas, so the documentation never drifts from them.

python -m latentcf.config_docs > config/README.md
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from latentcf.config import ROOT_SCHEMA, default_schema_dir, load_registry

HEADER = """# Configuration keys

Generated from `workflow/schemas/*.schema.yaml` by `python -m latentcf.config_docs > config/README.md`
(a test fails when this file is out of date). Every key is optional: a missing key takes its default.
The config is validated before any job starts; a bad key or value stops the run with a message naming
the key, the bad value, the allowed values and the closest valid one.

Pass your own file with `snakemake --configfile my.yaml`, or single keys with
`snakemake --config seed=1 participant_label='["001"]'`.

| key | type | default | description |
| --- | --- | --- | --- |
"""


def render_config_docs(schema_dir: Path | None = None) -> str:
    """Markdown table of every config key: dotted name, type, default, description."""
    registry = load_registry(schema_dir or default_schema_dir())
    rows = [
        _row(key, schema) for key, schema in _walk(registry.contents(ROOT_SCHEMA), "", registry)
    ]
    return HEADER + "\n".join(rows) + "\n"


def _walk(
    schema: Mapping[str, Any], prefix: str, registry: Any
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, sub in schema.get("properties", {}).items():
        sub = _deref(sub, registry)
        key = f"{prefix}{name}"
        if "properties" in sub:
            yield from _walk(sub, key + ".", registry)
        else:
            yield key, sub
            entry = sub.get("additionalProperties")
            if isinstance(entry, dict) and "$ref" in entry:  # e.g. models.<name>
                yield from _walk_entry(_deref(entry, registry), f"{key}.<name>.", registry)


def _walk_entry(
    schema: Mapping[str, Any], prefix: str, registry: Any
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Keys of a named entry: its own properties, then each `if family == x then <x schema>`."""
    yield from _walk(schema, prefix, registry)
    for case in schema.get("allOf", []):
        family = case["if"]["properties"]["family"]["const"]
        then = _deref(case["then"], registry)
        props = {k: v for k, v in then["properties"].items() if k != "family"}
        for key, sub in _walk({"properties": props}, prefix, registry):
            yield key, {**sub, "description": f"({family}) {sub.get('description', '')}"}


def _deref(schema: Mapping[str, Any], registry: Any) -> Mapping[str, Any]:
    if "$ref" not in schema:
        return schema
    return {**registry.contents(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}


def _row(key: str, schema: Mapping[str, Any]) -> str:
    kind = schema.get("type") or (
        "one of " + ", ".join(map(str, schema["enum"])) if "enum" in schema else ""
    )
    kind = "/".join(kind) if isinstance(kind, list) else kind
    default = json.dumps(schema["default"]) if "default" in schema else ""
    description = " ".join(str(schema.get("description", "")).split())
    return f"| `{key}` | {kind} | `{default}` | {description} |".replace("``", "")


if __name__ == "__main__":
    sys.stdout.write(render_config_docs())
