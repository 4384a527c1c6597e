"""OpenAPI 3.1 description of a served model, built from the same descriptors as ``/meta``.

>>> from runway_for_ml.serving.model import RunwayModel
>>> from runway_for_ml.serving.data_types import number
>>> m = RunwayModel("demo")
>>> _ = m.command("double", inputs={"x": number()}, outputs={"y": number()})(lambda model, i: {"y": 2 * i["x"]})
>>> build_openapi(m)["paths"]["/double"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"]
['x']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runway_for_ml.serving.data_types import BaseType

if TYPE_CHECKING:  # annotations only: the model module imports the server, which builds this document
    from runway_for_ml.serving.model import Command, RunwayModel

__all__ = ["OPENAPI_VERSION", "build_openapi", "type_schema"]

OPENAPI_VERSION = "3.1.0"
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_DATA_URI = r"^(data:[\w/+.\-]*(;[\w\-]+=[\w\-.]+)*;base64,)?[A-Za-z0-9+/=\s]*$"


def type_schema(data_type: BaseType) -> dict[str, Any]:
    """JSON Schema of a data type's JSON value."""
    kind = data_type.type_name
    schema: dict[str, Any]
    if kind == "number":
        schema = {"type": "number"}
        if getattr(data_type, "min", None) is not None:
            schema["minimum"] = data_type.min
        if getattr(data_type, "max", None) is not None:
            schema["maximum"] = data_type.max
    elif kind == "text":
        schema = {"type": "string", "minLength": data_type.min_length or 0}
        if data_type.max_length is not None:
            schema["maxLength"] = data_type.max_length
    elif kind == "category":
        schema = {"enum": list(data_type.choices)}
    elif kind == "boolean":
        schema = {"type": "boolean"}
    elif kind == "vector":
        items: dict[str, Any] = {"type": "number"}
        if getattr(data_type, "min", None) is not None:
            items["minimum"] = data_type.min
        if getattr(data_type, "max", None) is not None:
            items["maximum"] = data_type.max
        schema = {"type": "array", "items": items, "minItems": data_type.length, "maxItems": data_type.length}
    elif kind == "array":
        schema = {"type": "array", "items": type_schema(data_type.item_type), "minItems": data_type.min_length or 0}
        if data_type.max_length is not None:
            schema["maxItems"] = data_type.max_length
    elif kind in ("image", "file"):
        what = "a PNG or JPEG image" if kind == "image" else "a file"
        schema = {
            "type": "string",
            "minLength": 1,
            "contentEncoding": "base64",
            "pattern": _DATA_URI,
            "description": f"{what} as a base64 data URI",
        }
    else:
        schema = {}
    if data_type.description:
        schema["description"] = data_type.description
    if data_type.default is not None:
        schema["default"] = data_type.serialize(data_type.default)
    return schema


def _object(types: dict[str, BaseType], required: list[str], *, closed: bool = False) -> dict[str, Any]:
    """An object schema; ``closed``: other keys are refused (a request's unknown input is a 400)."""
    schema: dict[str, Any] = {"type": "object", "properties": {n: type_schema(t) for n, t in types.items()}}
    if closed:
        schema["additionalProperties"] = False
    if required:
        schema["required"] = required
    return schema


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid input: malformed JSON, a missing input, a wrong type, range or length",
        401: "Missing or wrong API key",
        404: "Unknown route or command",
        405: "Method not allowed",
        413: "Request body over the size limit",
        500: "The model failed (inference or setup error)",
        503: "The model is still starting (see /healthcheck)",
        504: "The request did not finish within the server's timeout",
    }
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR_REF}}} for c in codes}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _command_paths(command: Command, auth: list[int]) -> dict[str, Any]:
    required = [n for n, t in command.inputs.items() if t.required]
    body = _object(command.inputs, required, closed=True)
    if command.alternatives:  # e.g. pixels or image: exactly one of each group
        body["allOf"] = [{"oneOf": [{"required": [name]} for name in group]} for group in command.alternatives]
    outputs = _object(command.outputs, list(command.outputs))
    media: dict[str, Any] = {"schema": body}
    if command.examples:  # rows of the test split, when the server has read them
        media["examples"] = {
            f"example{i + 1}": {
                "summary": f"label {e['label']}" if "label" in e else f"example {i + 1}",
                "value": e["inputs"],
            }
            for i, e in enumerate(command.examples)
        }
    summary = command.description or f"Run {command.name}"
    return {
        "get": {
            "summary": f"Descriptor of {command.name}",
            "operationId": f"describe_{command.name}",
            "responses": {
                "200": _json_response("The command's inputs and outputs", {"$ref": "#/components/schemas/Command"}),
                **_errors(*auth),
            },
        },
        "post": {
            "summary": summary.strip().splitlines()[0],
            "operationId": command.name,
            "requestBody": {"required": True, "content": {"application/json": media}},
            "responses": {
                "200": _json_response("Outputs", outputs),
                **_errors(400, *auth, 413, 500, 503, 504),
            },
        },
    }


def build_openapi(model: RunwayModel, *, api_key: bool = False, version: str = "0.1.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``model``'s routes; ``api_key`` declares the key security scheme."""
    auth = [401] if api_key else []
    descriptor = {
        "type": "object",
        "properties": {"type": {"type": "string"}, "name": {"type": "string"}},
        "required": ["type"],
    }
    paths: dict[str, Any] = {**_model_paths(model, auth, descriptor), **_page_paths(auth)}
    for name, command in model.commands.items():
        paths[f"/{name}"] = _command_paths(command, auth)
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": model.name,
            "version": version,
            "description": model.description or f"Served model {model.name}",
        },
        "paths": paths,
        "components": {"schemas": _schemas(descriptor)},
    }
    if api_key:
        doc["components"]["securitySchemes"] = {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
        }
        doc["security"] = [{"apiKey": []}, {"bearer": []}]
    return doc


def _model_paths(model: RunwayModel, auth: list[int], descriptor: dict[str, Any]) -> dict[str, Any]:
    """``/meta``, ``/healthcheck`` and ``/setup``."""
    options_required = [n for n, t in model.options.items() if t.required]
    return {
        "/meta": {
            "get": {
                "summary": "Options, commands and status of the model",
                "operationId": "meta",
                "responses": {
                    "200": _json_response("The model's manifest", {"$ref": "#/components/schemas/Meta"}),
                    **_errors(*auth),
                },
            }
        },
        "/healthcheck": {
            "get": {
                "summary": "Readiness: STARTING while setup runs, RUNNING when commands are served",
                "operationId": "healthcheck",
                "security": [],
                "responses": {
                    "200": _json_response(
                        "Status",
                        {
                            "type": "object",
                            "properties": {"status": {"enum": ["STARTING", "RUNNING", "FAILED"]}},
                            "required": ["status"],
                        },
                    )
                },
            }
        },
        "/setup": {
            "get": {
                "summary": "Option descriptors",
                "operationId": "get_setup",
                "responses": {
                    "200": _json_response("Options", {"type": "array", "items": descriptor}),
                    **_errors(*auth),
                },
            },
            "post": {
                "summary": "Run setup again with new options",
                "operationId": "setup",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _object(model.options, options_required, closed=True)}},
                },
                "responses": {
                    "200": _json_response(
                        "Setup done",
                        {"type": "object", "properties": {"status": {"type": "string"}, "options": {"type": "object"}}},
                    ),
                    **_errors(400, *auth, 413, 500),
                },
            },
        },
    }


def _page_paths(auth: list[int]) -> dict[str, Any]:
    """``/metrics`` (Prometheus text) and ``/ui`` (HTML)."""
    paths: dict[str, Any] = {}
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics: requests, errors by code, latency and batch-size histograms",
            "operationId": "metrics",
            "responses": {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **_errors(*auth),
            },
        }
    }
    paths["/ui"] = {
        "get": {
            "summary": "A page to try the commands by hand, built from /meta",
            "operationId": "ui",
            "security": [],
            "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
        }
    }
    return paths


def _schemas(descriptor: dict[str, Any]) -> dict[str, Any]:
    """The shared schemas: ``Error``, ``Command`` and ``Meta``."""
    return {
        "Error": {
            "type": "object",
            "properties": {
                "error": {"type": "string"},
                "traceback": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["error"],
        },
        "Command": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "description": {"type": ["string", "null"]},
                "inputs": {"type": "array", "items": descriptor},
                "outputs": {"type": "array", "items": descriptor},
                "alternatives": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                "examples": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"inputs": {"type": "object"}}, "required": ["inputs"]},
                },
            },
            "required": ["name", "inputs", "outputs"],
        },
        "Meta": {
            "type": "object",
            "properties": {
                "options": {"type": "array", "items": descriptor},
                "commands": {"type": "array", "items": {"$ref": "#/components/schemas/Command"}},
                "millisRunning": {"type": "integer"},
                "millisSinceLastCommand": {"type": ["integer", "null"]},
                "GPU": {"type": "boolean"},
            },
            "required": ["options", "commands"],
        },
    }
