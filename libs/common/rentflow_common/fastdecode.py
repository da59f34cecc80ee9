"""A faster decode of a topic's envelope: msgspec Structs derived from the pydantic models, pydantic
still the authority.

`schemas/` keeps the one definition of every event (pydantic). From a model this derives a msgspec
Struct of the same shape: the field types schemas/ uses (str, int, bool, UUID, date, datetime and
AwareDatetime, StrEnum, Literal of str, optional, nested models, lists, dicts with str keys), the
constraints gt/ge/lt/le/min_length/max_length/pattern, defaults, extra="forbid" (unknown fields
refused) or "ignore". A model with anything else (a validator, another type or constraint, config
it cannot mirror) gets no Struct: its topic keeps pydantic alone.

The Struct is only ever tried first: on any msgspec error the message goes to pydantic, which
accepts it (with its coercions) or rejects it with its own reason. The Struct is made no more
lenient than pydantic (a pattern's `$` is the end of the text, as in pydantic's regex, not before a
final newline as in Python's; `\\d` is 0-9; a time's seventh digit of a second is left to pydantic,
which truncates where msgspec rounds), so what it accepts pydantic accepts, with the same values
(libs/common/tests/test_fastdecode.py checks it over every topic). Decoded, an event is a frozen
Struct with the model's field names: handlers that read attributes work on either; `model_of` names
the model a Struct stands for (for `type(data) is Model` dispatch). Times come with
datetime.timezone's tzinfo where pydantic gives its own TzInfo: equal offsets, equal datetimes."""
from __future__ import annotations

import datetime as dt
import enum
import re
import types
import typing
import uuid
from functools import cache
from typing import Any, Callable, Literal, Union

import msgspec
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


class Unsupported(Exception):
    """What the converter does not mirror exactly: the model stays on pydantic."""


# Config keys that change nothing about what validate_json accepts or returns for these models.
_HARMLESS_CONFIG = {"frozen", "title", "json_schema_extra", "cache_strings", "defer_build", "protected_namespaces",
                    "use_attribute_docstrings", "ser_json_timedelta", "ser_json_bytes", "ser_json_inf_nan",
                    "json_encoders", "hide_input_in_errors", "arbitrary_types_allowed", "from_attributes",
                    "validate_assignment", "revalidate_instances", "extra"}
# pydantic's constraints (annotated_types' classes) msgspec's Meta has, by class name
_ANNOTATED_TYPES = {"Gt": "gt", "Ge": "ge", "Lt": "lt", "Le": "le", "MinLen": "min_length", "MaxLen": "max_length"}
_SCALARS: dict[Any, Any] = {str: str, int: int, bool: bool, uuid.UUID: uuid.UUID, dt.date: dt.date}
_SAFE_PATTERN = re.compile(r"\^?(?:\\d|\{\d+(?:,\d*)?\}|[A-Za-z0-9_:/ -]|[+*?])*\$?")

_STRUCTS: dict[type[BaseModel], Any] = {}  # model -> its Struct (None: unsupported)
_WHY_NOT: dict[type[BaseModel], str] = {}
_MODELS: dict[type, type[BaseModel]] = {}  # Struct -> the model it mirrors


def struct_of(model: type[BaseModel]) -> Any:
    """The Struct mirroring `model`, or None when the converter cannot mirror it exactly."""
    if model not in _STRUCTS:
        try:
            _STRUCTS[model] = _convert(model)
        except Unsupported as exc:
            _STRUCTS[model] = None
            _WHY_NOT[model] = str(exc)
    return _STRUCTS[model]


def why_not(model: type[BaseModel]) -> str | None:
    """Why `model` has no Struct (None: it has one)."""
    struct_of(model)
    return _WHY_NOT.get(model)


def model_of(kind: type) -> type:
    """The model a Struct type mirrors; any other type is its own."""
    return _MODELS.get(kind, kind)


class LongFraction(ValueError):
    """A time with more than six digits of a second: msgspec rounds them, pydantic truncates."""


@cache
def fast_decoder(reader_model: type[BaseModel]) -> Callable[[bytes], Any] | None:
    """msgspec's JSON decode of `reader_model` (e.g. a topic's envelope reader), or None. It raises on
    a message it cannot read exactly as pydantic would: then pydantic decides."""
    struct = struct_of(reader_model)
    if struct is None:
        return None
    decode = msgspec.json.Decoder(struct).decode
    long_fraction = re.compile(rb"\.[0-9]{7}").search  # anywhere: in a text field it only costs the fast path

    def decode_exactly(value: bytes) -> Any:
        if long_fraction(value) is not None:
            raise LongFraction
        return decode(value)
    return decode_exactly


def _convert(model: type[BaseModel]) -> Any:
    decorators = model.__pydantic_decorators__
    for kind in ("validators", "field_validators", "root_validators", "model_validators"):
        if getattr(decorators, kind):
            raise Unsupported(f"{model.__name__} has {kind}")
    if getattr(model, "__pydantic_root_model__", False):
        raise Unsupported(f"{model.__name__} is a root model")
    config = model.model_config
    unknown = set(config) - _HARMLESS_CONFIG
    if unknown:
        raise Unsupported(f"{model.__name__} config {sorted(unknown)}")
    extra = config.get("extra", "ignore")
    if extra not in ("forbid", "ignore"):
        raise Unsupported(f"{model.__name__} extra={extra!r}")
    fields = []
    for name, field in model.model_fields.items():
        try:
            fields.append(_field(name, field))
        except Unsupported as exc:
            raise Unsupported(f"{model.__name__}.{name}: {exc}") from None
    struct = msgspec.defstruct(model.__name__, fields, kw_only=True, frozen=bool(config.get("frozen")),
                               forbid_unknown_fields=extra == "forbid", gc=False,
                               module=__name__)
    _MODELS[struct] = model
    return struct


def _field(name: str, field: FieldInfo) -> tuple[str, Any, Any]:
    if field.alias not in (None, name) or field.validation_alias not in (None, name):
        raise Unsupported("alias")
    if field.discriminator is not None:
        raise Unsupported("discriminator")
    kind = _type(field.annotation, field.metadata)
    if field.default_factory is not None:
        return name, kind, msgspec.field(default_factory=field.default_factory)
    if field.default is PydanticUndefined:
        return name, kind, msgspec.NODEFAULT
    if isinstance(field.default, (list, dict, set)) and field.default:
        raise Unsupported("mutable default")
    return name, kind, field.default


def _meta(constraints: list[Any], base: Any) -> dict[str, Any]:
    """msgspec Meta keywords for pydantic's constraints on a value of type `base`."""
    meta: dict[str, Any] = {}
    for c in constraints:
        if isinstance(c, FieldInfo):  # Annotated[int, Field(gt=0)] inside a union or list
            if c.alias is not None or c.default is not PydanticUndefined \
                    or c.default_factory is not None:
                raise Unsupported("Field() with more than constraints")
            meta.update(_meta(c.metadata, base))
            continue
        key = _ANNOTATED_TYPES.get(type(c).__name__) if type(c).__module__ == "annotated_types" else None
        if key in ("gt", "ge", "lt", "le") and base is int:
            meta[key] = getattr(c, key)
        elif key in ("min_length", "max_length") and (base is str or typing.get_origin(base) is list):
            meta[key] = getattr(c, key)
        elif type(c).__name__ == "_PydanticGeneralMetadata" and set(vars(c)) == {"pattern"} and base is str:
            meta["pattern"] = _pattern(c.pattern)
        else:
            raise Unsupported(f"constraint {c!r} on {base}")
    return meta


def _pattern(pattern: Any) -> str:
    """pydantic's regex (Rust) as Python's re.search reads it, no more lenient: only simple patterns."""
    if not isinstance(pattern, str) or not _SAFE_PATTERN.fullmatch(pattern):
        raise Unsupported(f"pattern {pattern!r}")
    if pattern.endswith("$"):  # Rust: the end of the text; Python: also before a final newline
        pattern = pattern[:-1] + r"\Z"
    return pattern.replace(r"\d", "[0-9]")  # Rust's \d: any Unicode digit, Python's may differ: 0-9 only


def _type(annotation: Any, constraints: list[Any]) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return _type(base, [*extra, *constraints])
    if origin in (Union, types.UnionType):
        args = typing.get_args(annotation)
        if len(args) != 2 or type(None) not in args:
            raise Unsupported(f"union {annotation}")
        (inner,) = [a for a in args if a is not type(None)]
        return Union[_type(inner, constraints), None]  # the field's constraints are the value's (pydantic's too)
    base = _base(annotation, origin)
    meta = _meta(constraints, base) if constraints else {}
    if annotation is AwareDatetime:
        meta["tz"] = True
    return typing.Annotated[base, msgspec.Meta(**meta)] if meta else base


def _base(annotation: Any, origin: Any) -> Any:
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if annotation is AwareDatetime:
        return dt.datetime
    if annotation is dt.datetime:  # naive or aware, as pydantic
        return dt.datetime
    if origin is Literal:
        values = typing.get_args(annotation)
        if not all(type(v) is str for v in values):
            raise Unsupported(f"literal {annotation}")
        return Literal[values]  # type: ignore[valid-type]
    if isinstance(annotation, type) and issubclass(annotation, enum.StrEnum):
        return annotation
    if origin is list:
        (item,) = typing.get_args(annotation) or (None,)
        return list[_type(item, [])]  # type: ignore[misc]
    if origin is dict:
        key, value = typing.get_args(annotation) or (None, None)
        if key is not str:
            raise Unsupported(f"dict keys {key}")
        return dict[str, _type(value, [])]  # type: ignore[misc]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        struct = struct_of(annotation)
        if struct is None:
            raise Unsupported(f"{annotation.__name__}: {why_not(annotation)}")
        return struct
    raise Unsupported(f"type {annotation!r}")
