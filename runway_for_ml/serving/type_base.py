"""The base of every serving data type (see ``serving.data_types``): descriptor, decoding, encoding."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from runway_for_ml.serving.exceptions import InvalidArgumentError

NUMBER_TYPES = (int, float)
FLOAT32_MAX = 3.4028234663852886e38


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_kind(value: Any) -> str:
    """The JSON name of a client's value (``string``, ``number``, ``object`` ...), for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def to_python(value: Any) -> Any:
    """numpy / torch scalars and arrays -> plain Python (JSON-encodable) values."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_python(v) for v in value]
    return value


class BaseType:
    """A data type: descriptor fields, decoding of inputs, encoding of outputs.

    ``default`` of ``None`` makes an input required; ``optional=True`` lets it be left out even
    without a default (the command then decides, e.g. "pixels or image").
    """

    type_name: ClassVar[str] = "base"
    # camelCase descriptor field -> attribute, besides name/description/default.
    fields: ClassVar[dict[str, str]] = {}

    def __init__(self, description: str | None = None, default: Any = None, optional: bool = False) -> None:
        self.name: str | None = None
        self.description = description
        self.default = default
        self.optional = bool(optional)

    # ------------------------------------------------------------------ descriptor
    def to_dict(self) -> dict[str, Any]:
        """The JSON descriptor (``/meta``): ``type``, ``name``, ``description``, ``default`` and type fields."""
        out: dict[str, Any] = {"type": self.type_name, "name": self.name, "description": self.description}
        if self.default is not None:
            out["default"] = self.serialize(self.default)
        if self.optional:
            out["optional"] = True
        for key, attr in self.fields.items():
            value = getattr(self, attr)
            if value is not None:
                out[key] = value.to_dict() if isinstance(value, BaseType) else value
        return out

    def named(self, name: str) -> BaseType:
        """A copy of this type carrying ``name`` (types are declared once, placed under several names)."""
        clone = copy.copy(self)
        clone.name = name
        return clone

    @property
    def required(self) -> bool:
        return self.default is None and not self.optional

    # ------------------------------------------------------------------ values
    def _invalid(self, reason: str, name: str | None = None) -> InvalidArgumentError:
        return InvalidArgumentError(name or self.name or "value", reason)

    def deserialize(self, value: Any) -> Any:
        """Decode and check a JSON value sent by a client; :class:`InvalidArgumentError` when wrong."""
        return value

    def serialize(self, value: Any) -> Any:
        """Encode a Python value (numpy, torch, PIL, bytes ...) as a JSON value."""
        return to_python(value)

    def __repr__(self) -> str:
        return f"{self.type_name}({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items() if k != 'type')})"
