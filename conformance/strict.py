"""Strict validation of JSON bodies against the SDKs' TypedDicts and pydantic models.

pydantic alone is too lenient for a conformance check (../shared/CONFORMANCE.md):
`Iterable[...]` fields of TypedDicts validate lazily, and TypedDicts accept unknown keys.
`validate_typeddict` consumes every lazy iterator and rejects every key the SDK's type does
not declare, recursively through unions, lists and nested TypedDicts.
"""

import collections.abc
import typing

import pydantic
import typing_extensions

_WRAPPERS = {
    typing_extensions.Required,
    typing_extensions.NotRequired,
    typing_extensions.ReadOnly,
    typing.Required,
    typing.NotRequired,
}


class Invalid(Exception):
    """The body does not conform; the message says where and why."""


def validate_typeddict(tp, body):
    """Validates `body` against TypedDict `tp`, strictly. Raises `Invalid`."""
    try:
        _consume(_adapter(tp).validate_python(body))
    except pydantic.ValidationError as err:
        raise Invalid(str(err)) from None
    problems = _unknown_keys(tp, body, "$")
    if problems:
        raise Invalid("; ".join(problems))


def validate_model(model, body):
    """Validates `body` with pydantic model `model`, then rejects keys the model does not
    declare (by field name or alias), recursively. Raises `Invalid`."""
    try:
        model.model_validate(body)
    except pydantic.ValidationError as err:
        raise Invalid(str(err)) from None
    problems = _unknown_keys(model, body, "$")
    if problems:
        raise Invalid("; ".join(problems))


_ADAPTERS = {}


def _adapter(tp):
    """One cached TypeAdapter per type. It must outlive the lazy iterators it hands out:
    consuming them after their adapter is collected crashes pydantic-core."""
    key = repr(tp)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = pydantic.TypeAdapter(tp)
    return _ADAPTERS[key]


def _consume(value):
    """Forces pydantic's lazy ValidatorIterators, so their items are validated too."""
    if isinstance(value, dict):
        for item in value.values():
            _consume(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _consume(item)
    elif isinstance(value, collections.abc.Iterator):
        for item in value:
            _consume(item)


def _strip(tp):
    while True:
        origin = typing.get_origin(tp)
        if origin in _WRAPPERS or origin is typing_extensions.Annotated or origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        else:
            return tp


def _is_model(tp):
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _model_fields(model):
    """Maps every accepted key (field name and aliases) to the field's annotation."""
    keys = {}
    for name, field in model.model_fields.items():
        keys[name] = field.annotation
        for alias in (field.alias, field.validation_alias, field.serialization_alias):
            if isinstance(alias, str):
                keys[alias] = field.annotation
    return keys


def _unknown_keys(tp, value, path):
    """Every key in `value` that type `tp` does not declare, as messages."""
    tp = _strip(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        # Judge only the members pydantic accepts; the value passes if one of them
        # declares every key, and otherwise fails with the closest member's complaints.
        results = [_unknown_keys(m, value, path) for m in members if _fits(m, value)]
        if not results or any(not problems for problems in results):
            return []
        return min(results, key=len)
    if typing_extensions.is_typeddict(tp):
        if not isinstance(value, dict):
            return []
        hints = typing.get_type_hints(tp, include_extras=True)
        problems = [f"{path}.{key}: unknown key" for key in value if key not in hints]
        for key, item in value.items():
            if key in hints:
                problems += _unknown_keys(hints[key], item, f"{path}.{key}")
        return problems
    if _is_model(tp):
        if not isinstance(value, dict):
            return []
        fields = _model_fields(tp)
        problems = [f"{path}.{key}: unknown key" for key in value if key not in fields]
        for key, item in value.items():
            if key in fields:
                problems += _unknown_keys(fields[key], item, f"{path}.{key}")
        return problems
    if origin in (list, collections.abc.Iterable, collections.abc.Sequence, typing.Iterable, typing.List):
        (item_type,) = typing.get_args(tp) or (typing.Any,)
        if isinstance(value, list):
            problems = []
            for i, item in enumerate(value):
                problems += _unknown_keys(item_type, item, f"{path}[{i}]")
            return problems
        return []
    if origin in (dict, collections.abc.Mapping, typing.Dict):
        args = typing.get_args(tp)
        if len(args) == 2 and isinstance(value, dict):
            problems = []
            for key, item in value.items():
                problems += _unknown_keys(args[1], item, f"{path}.{key}")
            return problems
    return []


def _fits(tp, value):
    """Whether pydantic accepts `value` as `tp` (used to pick a union member)."""
    try:
        _consume(_adapter(tp).validate_python(value))
        return True
    except (pydantic.ValidationError, pydantic.PydanticSchemaGenerationError, TypeError):
        return False
