"""Typed inputs, outputs and options of a served model: one descriptor per value.

Each type knows its JSON descriptor (``to_dict()``: ``type``, ``name``, ``description`` and the
type's camelCase fields, as the Runway Model SDK writes them), how to decode a JSON value sent by a
client (``deserialize``: range, length, category and encoding checks raise
:class:`InvalidArgumentError` naming the input, answered as HTTP 400) and how to encode a Python
value for the response (``serialize``). The same descriptors build ``/meta``, the OpenAPI schema and
the ``/ui`` form.

>>> v = vector(length=3)
>>> v.deserialize([1, 2, 3]).tolist()
[1.0, 2.0, 3.0]
>>> category(choices=["cat", "dog"]).deserialize("cow")
Traceback (most recent call last):
...
runway_for_ml.serving.exceptions.InvalidArgumentError: Invalid argument: value: "cow" is not one of ["cat", "dog"]
>>> descriptor_type({"type": "number", "min": 0, "max": 1}).to_dict()["max"]
1
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from runway_for_ml.errors import ConfigError, check_choice, check_keys
from runway_for_ml.serving.exceptions import InvalidArgumentError, shown
from runway_for_ml.serving.media_types import file, image
from runway_for_ml.serving.type_base import (
    FLOAT32_MAX,
    NUMBER_TYPES,
    BaseType,
    is_number,
    json_kind,
    to_python,
)

__all__ = [
    "TYPES",
    "BaseType",
    "any",
    "array",
    "boolean",
    "category",
    "descriptor_type",
    "file",
    "image",
    "number",
    "text",
    "vector",
]


class number(BaseType):  # the SDK's lowercase names are the contract
    """A number with optional ``min``/``max`` bounds and a UI ``step``."""

    type_name = "number"
    fields: ClassVar[dict[str, str]] = {"min": "min", "max": "max", "step": "step"}

    def __init__(
        self,
        description: str | None = None,
        default: float | None = None,
        step: float | None = None,
        min: float | None = None,  # SDK argument names
        max: float | None = None,
        optional: bool = False,
    ) -> None:
        _check_bounds(min, max)
        super().__init__(description, default, optional)
        self.step, self.min, self.max = step, min, max

    def deserialize(self, value: Any) -> Any:
        if not is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
            raise self._invalid(f"expected a finite number, got {json_kind(value)}")
        if self.min is not None and value < self.min:
            raise self._invalid(f"{shown(value)} is below the minimum {shown(self.min)}")
        if self.max is not None and value > self.max:
            raise self._invalid(f"{shown(value)} is above the maximum {shown(self.max)}")
        return value

    def serialize(self, value: Any) -> Any:
        value = to_python(value)
        return value if isinstance(value, int) else float(value)


def _check_bounds(low: float | None, high: float | None) -> None:
    for bound in (low, high):
        if bound is not None and not is_number(bound):
            raise ValueError(f"min and max must be numbers, got {shown(bound)}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"min {low} is above max {high}")


class text(BaseType):
    """A string with optional ``minLength`` / ``maxLength``."""

    type_name = "text"
    fields: ClassVar[dict[str, str]] = {"minLength": "min_length", "maxLength": "max_length"}

    def __init__(
        self,
        description: str | None = None,
        default: str | None = None,
        min_length: int = 0,
        max_length: int | None = None,
        optional: bool = False,
    ) -> None:
        super().__init__(description, default, optional)
        self.min_length, self.max_length = min_length, max_length

    def deserialize(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise self._invalid(f"expected a string, got {json_kind(value)}")
        if len(value) < (self.min_length or 0):
            raise self._invalid(f"shorter than minLength {self.min_length}")
        if self.max_length is not None and len(value) > self.max_length:
            raise self._invalid(f"longer than maxLength {self.max_length}")
        return value

    def serialize(self, value: Any) -> Any:
        return str(to_python(value))


class category(BaseType):
    """One of ``choices`` (descriptor field ``oneOf``)."""

    type_name = "category"
    fields: ClassVar[dict[str, str]] = {"oneOf": "choices"}

    def __init__(
        self,
        description: str | None = None,
        choices: Sequence[Any] | None = None,
        default: Any = None,
        optional: bool = False,
    ) -> None:
        if not choices:
            raise ValueError("category needs a non-empty list of choices")
        super().__init__(description, default, optional)
        self.choices = list(choices)
        if default is not None and default not in self.choices:
            raise ValueError(f"category default {default!r} is not one of {self.choices}")

    def deserialize(self, value: Any) -> Any:
        if isinstance(value, bool) or value not in self.choices:
            raise self._invalid(f"{shown(value)} is not one of {shown(self.choices, 200)}")
        return value

    def serialize(self, value: Any) -> Any:
        value = to_python(value)
        if value in self.choices and not isinstance(value, bool):
            return value
        # A class index (what a classifier predicts) names the choice at that position.
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self.choices):
            return self.choices[value]
        raise ValueError(
            f"output '{self.name}': {shown(value)} is neither one of {shown(self.choices, 200)} nor an index into them"
        )


class boolean(BaseType):
    """``true`` or ``false``."""

    type_name = "boolean"

    def deserialize(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise self._invalid(f"expected true or false, got {json_kind(value)}")
        return value

    def serialize(self, value: Any) -> Any:
        return bool(to_python(value))


class vector(BaseType):
    """A fixed-``length`` list of numbers, decoded to a float32 numpy array.

    ``min`` / ``max`` bound every item (a request outside them is a 400 naming the input and the item);
    ``samplingMean`` / ``samplingStd`` tell a client how to draw a random vector (e.g. a latent);
    ``labels`` name the positions (e.g. the classes of a probability vector; the ``/ui`` shows them).
    """

    type_name = "vector"
    fields: ClassVar[dict[str, str]] = {
        "length": "length",
        "min": "min",
        "max": "max",
        "samplingMean": "sampling_mean",
        "samplingStd": "sampling_std",
        "labels": "labels",
    }

    def __init__(
        self,
        length: int | None = None,
        description: str | None = None,
        sampling_mean: float = 0.0,
        sampling_std: float = 1.0,
        default: Sequence[float] | None = None,
        optional: bool = False,
        min: float | None = None,  # SDK-style argument names, as number's
        max: float | None = None,
        labels: Sequence[Any] | None = None,
    ) -> None:
        if length is None or int(length) < 1:
            raise ValueError("vector needs a positive length")
        _check_bounds(min, max)
        super().__init__(description, default, optional)
        self.length = int(length)
        self.sampling_mean, self.sampling_std = sampling_mean, sampling_std
        self.min, self.max = min, max
        if labels is not None and (not isinstance(labels, Sequence) or len(labels) != self.length):
            raise ValueError(f"vector labels must be a list of {self.length} names, one per item")
        self.labels = [str(label) for label in labels] if labels is not None else None

    def deserialize(self, value: Any) -> Any:
        import numpy as np

        if not isinstance(value, list):
            raise self._invalid(f"expected a list of {self.length} numbers, got {json_kind(value)}")
        if len(value) != self.length:
            raise self._invalid(f"expected {self.length} numbers, got {len(value)}")
        if not all(type(item) in NUMBER_TYPES for item in value):  # fast path: JSON gives int/float
            bad = next(i for i, item in enumerate(value) if not is_number(item))
            raise self._invalid(f"item {bad} is not a finite number ({shown(value[bad])})")
        array = np.asarray(value, dtype=np.float64)
        if not np.isfinite(array).all():
            bad = int(np.flatnonzero(~np.isfinite(array))[0])
            raise self._invalid(f"item {bad} is not a finite number ({shown(value[bad])})")
        if np.abs(array).max(initial=0.0) > FLOAT32_MAX:  # would become inf in the model's float32
            bad = int(np.flatnonzero(np.abs(array) > FLOAT32_MAX)[0])
            raise self._invalid(f"item {bad} ({shown(value[bad])}) is outside the float32 range")
        if self.min is not None and (array < self.min).any():
            bad = int(np.flatnonzero(array < self.min)[0])
            raise self._invalid(f"item {bad} ({shown(value[bad])}) is below the minimum {shown(self.min)}")
        if self.max is not None and (array > self.max).any():
            bad = int(np.flatnonzero(array > self.max)[0])
            raise self._invalid(f"item {bad} ({shown(value[bad])}) is above the maximum {shown(self.max)}")
        return array.astype(np.float32)

    def serialize(self, value: Any) -> Any:
        return [float(v) for v in to_python(value)]


class array(BaseType):
    """A list of ``item_type`` values (descriptor ``itemType``) with optional length bounds."""

    type_name = "array"
    fields: ClassVar[dict[str, str]] = {"itemType": "item_type", "minLength": "min_length", "maxLength": "max_length"}

    def __init__(
        self,
        item_type: BaseType | None = None,
        description: str | None = None,
        min_length: int = 0,
        max_length: int | None = None,
        default: Sequence[Any] | None = None,
        optional: bool = False,
    ) -> None:
        if not isinstance(item_type, BaseType):
            raise ValueError("array needs item_type, a data type such as number() or text()")
        super().__init__(description, default, optional)
        self.item_type, self.min_length, self.max_length = item_type, min_length, max_length

    def deserialize(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise self._invalid(f"expected a list, got {json_kind(value)}")
        if len(value) < (self.min_length or 0):
            raise self._invalid(f"{len(value)} items, fewer than minLength {self.min_length}")
        if self.max_length is not None and len(value) > self.max_length:
            raise self._invalid(f"{len(value)} items, more than maxLength {self.max_length}")
        return [self.item_type.named(f"{self.name}[{i}]").deserialize(v) for i, v in enumerate(value)]

    def serialize(self, value: Any) -> Any:
        return [self.item_type.serialize(v) for v in value]


class any(BaseType):  # the SDK's name
    """Any JSON value, passed through unchanged."""

    type_name = "any"


TYPES: dict[str, type[BaseType]] = {
    cls.type_name: cls for cls in (number, text, category, boolean, vector, array, image, file, any)
}

# Descriptor (camelCase) keys accepted per type, mapped to constructor arguments: each type's own
# ``fields`` (what ``describe`` writes), plus ``default`` where the constructor takes one.
_CONSTRUCTOR_ARGS: dict[str, dict[str, str]] = {
    name: ({"default": "default"} if "default" in inspect.signature(cls.__init__).parameters else {}) | dict(cls.fields)
    for name, cls in TYPES.items()
}
_COMMON_KEYS = ("type", "name", "description", "optional")


def descriptor_type(descriptor: Mapping[str, Any], path: str = "", extra_keys: Sequence[str] = ()) -> BaseType:
    """Build a data type from its JSON descriptor (a config's ``serve:`` section, ``/meta``).

    An unknown ``type`` or field raises :class:`runway_for_ml.errors.ConfigError` naming ``path``
    with a did-you-mean; ``extra_keys`` are allowed and ignored here (the caller reads them).
    """

    where = path or "data type"
    if not isinstance(descriptor, Mapping):
        raise ConfigError(f"{where} must be a data-type descriptor such as {{type: 'number'}}, got {descriptor!r}")
    type_name = descriptor.get("type")
    if not isinstance(type_name, str):
        raise ConfigError(f"{where}.type is missing", hint=f"one of: {', '.join(TYPES)}")
    check_choice(type_name, list(TYPES), f"{where}.type", what="data type")
    allowed = [*_COMMON_KEYS, *_CONSTRUCTOR_ARGS[type_name], *extra_keys]
    check_keys(descriptor, allowed, where)
    kwargs: dict[str, Any] = {"description": descriptor.get("description")}
    if descriptor.get("optional"):
        kwargs["optional"] = True
    for key, arg in _CONSTRUCTOR_ARGS[type_name].items():
        if key in descriptor:
            value = descriptor[key]
            kwargs[arg] = descriptor_type(value, f"{where}.{key}") if key == "itemType" else value
    try:
        built = TYPES[type_name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    built = built.named(str(descriptor.get("name") or path.rsplit(".", 1)[-1] or type_name))
    if built.default is not None:
        try:
            built.deserialize(built.default)
        except InvalidArgumentError as exc:
            raise ConfigError(f"{where}.default: {exc.message}") from exc
    return built
