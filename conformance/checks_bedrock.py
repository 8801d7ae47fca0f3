"""Bedrock Converse bodies, judged by the `bedrock-runtime` service model that the official
`botocore` ships (the model every AWS SDK is generated from).

The validation walks the model's shapes strictly: a structure rejects members it does not
declare and requires the ones it lists as required; a union (`"union": true`) takes exactly
one member; members bound to the URI or headers (`modelId`) may not appear in a body;
strings are checked against their enums and length bounds, numbers against their type and
range, lists against their length bounds, blobs must be base64; documents take any JSON.
Kinds:

- "request": a Converse (or ConverseStream: the same members) request body.
- "response": a Converse response body.
- "event": `{"type": <ConverseStreamOutput member>, "payload": <JSON>}`, one stream event
  (`contentBlockDelta`, ..., or an exception such as `throttlingException`).
- "error": `{"type": <error shape>, "body": <JSON>}`, an error answer of Converse, whose
  type must be one of the operation's declared errors.
"""

import base64
import binascii
import math

from botocore.loaders import Loader

import strict

_MODEL = Loader().load_service_model("bedrock-runtime", "service-2")
_SHAPES = _MODEL["shapes"]
_CONVERSE = _MODEL["operations"]["Converse"]
_STREAM = _MODEL["operations"]["ConverseStream"]


def _fail(path, message):
    raise strict.Invalid(f"{path}: {message}")


def _is_number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _bounds(shape, size, path, what):
    if "min" in shape and size < shape["min"]:
        _fail(path, f"{what} {size} is below the minimum {shape['min']}")
    if "max" in shape and size > shape["max"]:
        _fail(path, f"{what} {size} is above the maximum {shape['max']}")


def validate(shape_name, value, path="$"):
    """Validates `value` against shape `shape_name`, raising `strict.Invalid`."""
    shape = _SHAPES[shape_name]
    kind = shape["type"]
    if kind == "structure" and shape.get("document"):
        return
    if kind == "structure":
        _structure(shape, value, path)
    elif kind == "list":
        if not isinstance(value, list):
            _fail(path, "expected a list")
        _bounds(shape, len(value), path, "length")
        for index, item in enumerate(value):
            validate(shape["member"]["shape"], item, f"{path}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            _fail(path, "expected an object (map)")
        for key, item in value.items():
            validate(shape["key"]["shape"], key, f"{path}.<key>")
            validate(shape["value"]["shape"], item, f"{path}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            _fail(path, "expected a string")
        if "enum" in shape and value not in shape["enum"]:
            _fail(path, f"{value!r} is not one of {shape['enum']}")
        _bounds(shape, len(value), path, "length")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, "expected an integer")
        _bounds(shape, value, path, "value")
    elif kind in ("float", "double"):
        if not _is_number(value):
            _fail(path, "expected a number")
        _bounds(shape, value, path, "value")
    elif kind == "boolean":
        if not isinstance(value, bool):
            _fail(path, "expected a boolean")
    elif kind == "blob":
        if not isinstance(value, str):
            _fail(path, "expected base64 text")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            _fail(path, "not valid base64")
    elif kind == "timestamp":
        if not (isinstance(value, str) or _is_number(value)):
            _fail(path, "expected a timestamp")
    else:
        _fail(path, f"shape type {kind} is not handled")


def _structure(shape, value, path):
    if not isinstance(value, dict):
        _fail(path, "expected an object")
    members = shape.get("members", {})
    body_members = {name: m for name, m in members.items() if "location" not in m}
    for key in value:
        if key not in body_members:
            where = "bound to the URI or a header" if key in members else "not a member"
            _fail(f"{path}.{key}", f"{where} of {sorted(body_members)}")
    for required in shape.get("required", []):
        if required in body_members and required not in value:
            _fail(path, f"required member `{required}` is missing")
    if shape.get("union"):
        present = [key for key, item in value.items() if item is not None]
        if len(present) != 1:
            _fail(path, f"a union takes exactly one member, got {present}")
    for key, item in value.items():
        validate(body_members[key]["shape"], item, f"{path}.{key}")


def request(body):
    for operation in (_CONVERSE, _STREAM):
        validate(operation["input"]["shape"], body)


def response(body):
    validate(_CONVERSE["output"]["shape"], body)


def event(body):
    if not isinstance(body, dict) or set(body) != {"type", "payload"}:
        raise strict.Invalid("an event item is {type, payload}")
    response_shape = _SHAPES[_STREAM["output"]["shape"]]
    stream_shape = response_shape["members"][response_shape["payload"]]["shape"]
    members = _SHAPES[stream_shape]["members"]
    if body["type"] not in members:
        raise strict.Invalid(f"{body['type']!r} is not a ConverseStream event: {sorted(members)}")
    validate(members[body["type"]]["shape"], body["payload"], f"${body['type']}")


def error(body):
    if not isinstance(body, dict) or set(body) != {"type", "body"}:
        raise strict.Invalid("an error item is {type, body}")
    declared = [e["shape"] for e in _CONVERSE["errors"]]
    if body["type"] not in declared:
        raise strict.Invalid(f"{body['type']!r} is not an error of Converse: {declared}")
    validate(body["type"], body["body"])


KINDS = {
    "request": request,
    "response": response,
    "event": event,
    "error": error,
}
