"""Binary serving data types: ``image`` and ``file``, sent and returned as base64 data URIs."""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Any, ClassVar

from runway_for_ml.serving.exceptions import InvalidArgumentError
from runway_for_ml.serving.type_base import BaseType, json_kind, to_python

_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w/+.\-]*)(?P<params>(;[\w\-]+=[\w\-.]+)*)(?P<b64>;base64)?,(?P<data>.*)$", re.S
)


def _decode_base64(value: str, what: str, name: str) -> tuple[str, bytes]:
    """``data:<mime>;base64,<data>`` or bare base64 -> (mime, bytes)."""
    mime = ""
    match = _DATA_URI.match(value)
    if match:
        if not match.group("b64"):
            raise InvalidArgumentError(name, f"the {what} data URI is not base64-encoded")
        mime, value = match.group("mime"), match.group("data")
    try:
        return mime, base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgumentError(name, f"the {what} is not valid base64 ({exc})") from exc


class image(BaseType):
    """An image sent and returned as a base64 data URI (PNG or JPEG).

    Decoded to a ``PIL.Image`` in the mode of ``channels`` (1: ``L``, 3: ``RGB``, 4: ``RGBA``). With a
    fixed ``width`` and ``height`` an input image is resized to that size; ``min_*`` / ``max_*``
    bounds refuse images outside them. Outputs may be PIL images or numpy arrays (HxW or HxWxC,
    uint8, or floats in 0..1).
    """

    type_name = "image"
    fields: ClassVar[dict[str, str]] = {
        "channels": "channels",
        "width": "width",
        "height": "height",
        "minWidth": "min_width",
        "maxWidth": "max_width",
        "minHeight": "min_height",
        "maxHeight": "max_height",
        "defaultOutputFormat": "default_output_format",
    }
    _MODES: ClassVar[dict[int, str]] = {1: "L", 3: "RGB", 4: "RGBA"}

    def __init__(
        self,
        description: str | None = None,
        channels: int = 3,
        width: int | None = None,
        height: int | None = None,
        min_width: int | None = None,
        max_width: int | None = None,
        min_height: int | None = None,
        max_height: int | None = None,
        default_output_format: str = "PNG",
        optional: bool = False,
    ) -> None:
        if channels not in self._MODES:
            raise ValueError(f"image channels must be 1, 3 or 4, got {channels}")
        if default_output_format.upper() not in ("PNG", "JPEG"):
            raise ValueError(f"image defaultOutputFormat must be PNG or JPEG, got {default_output_format}")
        super().__init__(description, None, optional)
        self.channels, self.width, self.height = channels, width, height
        self.min_width, self.max_width, self.min_height, self.max_height = min_width, max_width, min_height, max_height
        self.default_output_format = default_output_format.upper()

    def deserialize(self, value: Any) -> Any:
        from PIL import Image, UnidentifiedImageError

        name = self.name or "image"
        if not isinstance(value, str):
            raise self._invalid(f"expected a base64 data URI string, got {json_kind(value)}")
        _, data = _decode_base64(value, "image", name)
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
        except Image.DecompressionBombError as exc:
            raise self._invalid("cannot decode the image: it has too many pixels") from exc
        except UnidentifiedImageError as exc:  # its text names a Python object: never sent to the client
            raise self._invalid("cannot decode the image: the data is not a PNG or JPEG image") from exc
        except Exception as exc:  # truncated or corrupt data: PIL raises OSError, SyntaxError, struct.error ...
            raise self._invalid("cannot decode the image: the data is truncated or corrupt") from exc
        w, h = img.size
        for bound, actual, what, cmp in (
            (self.min_width, w, "width", "min"),
            (self.max_width, w, "width", "max"),
            (self.min_height, h, "height", "min"),
            (self.max_height, h, "height", "max"),
        ):
            if bound is not None and ((cmp == "min" and actual < bound) or (cmp == "max" and actual > bound)):
                raise self._invalid(f"{what} {actual} is {'below' if cmp == 'min' else 'above'} the {cmp} {bound}")
        img = img.convert(self._MODES[self.channels])
        if self.width and self.height and (w, h) != (self.width, self.height):
            img = img.resize((self.width, self.height), Image.Resampling.BILINEAR)
        return img

    def serialize(self, value: Any) -> Any:
        from PIL import Image

        if isinstance(value, str) and value.startswith("data:image/"):
            return value
        if not isinstance(value, Image.Image):
            import numpy as np

            arr = np.asarray(to_python(value) if hasattr(value, "detach") else value)
            if arr.dtype.kind == "f":
                arr = (np.clip(arr, 0.0, 1.0) * 255).round()
            value = Image.fromarray(arr.astype(np.uint8))
        fmt = self.default_output_format
        if fmt == "JPEG" and value.mode not in ("RGB", "L"):
            value = value.convert("RGB")
        buffer = io.BytesIO()
        value.save(buffer, format=fmt)
        return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class file(BaseType):
    """A file sent and returned as a base64 data URI; decoded to ``bytes``.

    ``extension`` (e.g. ``".csv"``) is shown to clients; it is not checked against the content.
    """

    type_name = "file"
    fields: ClassVar[dict[str, str]] = {"extension": "extension"}

    def __init__(self, description: str | None = None, extension: str | None = None, optional: bool = False) -> None:
        super().__init__(description, None, optional)
        self.extension = extension

    def deserialize(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise self._invalid(f"expected a base64 data URI string, got {json_kind(value)}")
        return _decode_base64(value, "file", self.name or "file")[1]

    def serialize(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.encode("utf-8")
        return "data:application/octet-stream;base64," + base64.b64encode(bytes(value)).decode("ascii")
