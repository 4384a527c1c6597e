"""Serving: a trained experiment (or any model file) over HTTP, with the Runway Model SDK's protocol.

A model file written for the SDK runs here by changing only its imports::

    import runway_for_ml.serving as runway
    from runway_for_ml.serving.data_types import category, vector

    @runway.setup(options={"checkpoint": category(choices=["best", "last"], default="best")})
    def setup(opts): ...

    @runway.command("classify", inputs={"pixels": vector(length=64)}, outputs={"label": category(choices=[0, 1])})
    def classify(model, inputs): ...

    if __name__ == "__main__":
        runway.run(host="127.0.0.1", port=9000)

``runway serve VERSION`` serves a trained experiment without a model file (see
:mod:`runway_for_ml.serving.experiment_model` and ``docs/serving.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runway_for_ml.serving import data_types
from runway_for_ml.serving.exceptions import ServingError
from runway_for_ml.serving.model import Command, RunwayModel

__all__ = ["Command", "RunwayModel", "ServingError", "command", "data_types", "default_model", "run", "setup"]

# The model that the module-level decorators fill, as the SDK's module-level functions do.
default_model = RunwayModel()


# ``@runway.setup`` / ``@runway.setup(options={...})`` and ``@runway.command(name, inputs=..., outputs=...)``
# (``examples``: request bodies, or ``{"inputs": body, "label": answer}``, listed by ``/meta`` and offered by
# ``/ui``) register on the module's default model.
setup = default_model.setup
command = default_model.command


def run(
    host: str = "127.0.0.1",
    port: int = 9000,
    model_options: Mapping[str, Any] | None = None,
    debug: bool = False,
    meta: bool = False,
    name: str | None = None,
    **server_options: Any,
) -> None:
    """Set up and serve the default model (``RW_HOST``, ``RW_PORT``, ``RW_MODEL_OPTIONS``, ``RW_DEBUG``,
    ``RW_META`` override the arguments)."""
    if name:
        default_model.name = name
    default_model.run(host=host, port=port, model_options=model_options, debug=debug, meta=meta, **server_options)
