"""Checks shared by the request decoders (a caller's JSON -> ``ChatRequest``) of the protocol modules.

A gateway reads what callers send with ``decode_request``; everything wrong in that JSON is a
``ConfigurationError`` naming the field (``messages[2].content: expected a string or a list``), which the
gateway answers with a 400 in the caller's API's error format.
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple, Type, Union

from ..errors import ConfigurationError, shorten

_Types = Union[Type[Any], Tuple[Type[Any], ...]]
_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "an array",
          dict: "an object"}


def fail(where: str, message: str) -> ConfigurationError:
    """The error for field ``where`` of a caller's request."""
    return ConfigurationError(f"{where}: {message}" if where else message)


def body_object(data: Any) -> Dict[str, Any]:
    """The request body, which must be a JSON object."""
    if not isinstance(data, dict):
        raise fail("", f"the request body must be a JSON object, not {shorten(data, 80)}")
    return data


def _type_names(types: _Types) -> str:
    if isinstance(types, tuple):
        return " or ".join(_NAMES.get(t, t.__name__) for t in types)
    return _NAMES.get(types, types.__name__)


def _is(value: Any, types: _Types) -> bool:
    if isinstance(value, bool):  # JSON true/false is not a number
        return types is bool or (isinstance(types, tuple) and bool in types)
    if types is float or (isinstance(types, tuple) and float in types):
        return isinstance(value, (int, float)) or isinstance(value, types)
    return isinstance(value, types)


def get(data: Mapping[str, Any], name: str, types: _Types, where: str = "") -> Any:
    """``data[name]`` when present and not null, checked to be of ``types``; None when absent."""
    value = data.get(name)
    if value is None:
        return None
    if not _is(value, types):
        path = f"{where}.{name}" if where else name
        raise fail(path, f"expected {_type_names(types)}, got {shorten(repr(value), 80)}")
    return value


def need(data: Mapping[str, Any], name: str, types: _Types, where: str = "") -> Any:
    """``data[name]``, which must be present and of ``types`` (a string must not be empty)."""
    value = get(data, name, types, where)
    if value is None or value == "":
        raise fail(f"{where}.{name}" if where else name, "missing")
    return value


def objects(data: Mapping[str, Any], name: str, where: str = "") -> List[Dict[str, Any]]:
    """``data[name]`` as a list of objects (empty when absent)."""
    items = get(data, name, list, where) or []
    path = f"{where}.{name}" if where else name
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise fail(f"{path}[{i}]", f"expected an object, got {shorten(repr(item), 80)}")
    return items


def stop_words(value: Any, where: str) -> Optional[List[str]]:
    """A stop string or list of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    raise fail(where, f"expected a string or an array of strings, got {shorten(repr(value), 80)}")
