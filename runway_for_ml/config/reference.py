"""``docs/config-reference.md``, written from the config's JSON Schema (``runway config --schema --markdown``).

One table per section (and per typed sub-section such as ``train.trainer_paras``): each key with the
values it accepts, its default and its one-line doc. ``tests/unit/config/test_reference.py`` fails when
the page in ``docs/`` and the schema disagree; regenerate it with::

    runway config --schema --markdown > docs/config-reference.md
"""

from __future__ import annotations

import json
from typing import Any

from runway_for_ml.config.schema import config_json_schema, describe, resolve_ref

__all__ = ["render_reference"]

_INTRO = """# Config reference

Generated from the config's JSON Schema by `runway config --schema --markdown > docs/config-reference.md`
(do not edit by hand: a test compares this page with the schema). How configs are written, imported and
overridden: [config.md](config.md). `runway config --schema` prints the schema itself, for editors
(`.json` configs) and other tools.

Sections marked *closed* refuse unknown keys (exit code 2, with the key path and a did-you-mean);
*open* ones type-check the keys below and pass every other key on unchanged (to Lightning, submitit or
your code). `user` is free-form.
"""


def render_reference(schema: dict[str, Any] | None = None) -> str:
    """The Markdown page: the intro, then one table per section and typed sub-section."""
    schema = schema or config_json_schema()
    out = [_INTRO]
    for name, prop in schema["properties"].items():
        _section(out, name, prop, schema)
    return "\n".join(out).rstrip() + "\n"


def _section(out: list[str], path: str, prop: dict[str, Any], root: dict[str, Any], depth: int = 2) -> None:
    node = _object_of(prop, root)
    doc = _cell(prop.get("description") or (node or {}).get("description") or "")
    if node is None:
        out.append(f"## `{path}`\n\n{doc} ({describe(prop, root)}, free-form)\n")
        return
    kind = "closed" if node.get("additionalProperties") is False else "open"
    out.append(f"{'#' * min(depth, 4)} `{path}`\n\n{doc} *({kind})*\n".replace("\n\n *(", "\n\n*("))
    out.append("| key | accepts | default | description |")
    out.append("|---|---|---|---|")
    required = set(node.get("required", []))
    nested: list[tuple[str, dict[str, Any]]] = []
    for key, field in node.get("properties", {}).items():
        if _object_of(field, root) is not None:
            nested.append((f"{path}.{key}", field))
        elif _map_of(field, root) is not None:
            nested.append((f"{path}.{key}.*", _map_of(field, root)))
        if key in required:
            default = "*required*"
        elif isinstance(field.get("default"), dict) and field["default"]:
            default = "see below"
        else:
            default = f"`{json.dumps(field.get('default'))}`"
        out.append(f"| `{key}` | {_cell(describe(field, root))} | {default} | {_cell(field.get('description', ''))} |")
    out.append("")
    for child, field in nested:
        _section(out, child, field, root, depth + 1)


def _object_of(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    """The model (an object with properties) a field holds, directly or as a union member."""
    node = resolve_ref(prop, root)
    if node.get("properties"):
        return node
    for member in node.get("anyOf", []):
        found = _object_of(member, root)
        if found is not None:
            return found
    return None


def _map_of(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    node = resolve_ref(prop, root)
    values = node.get("additionalProperties")
    if isinstance(values, dict) and _object_of(values, root) is not None:
        return values
    return None


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()
