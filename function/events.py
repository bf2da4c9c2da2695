"""Is an event shaped like an API Gateway proxy event? What the handler and Powertools read
from each kind, and the type each field must have, checked before Powertools resolves it:
a direct invoke by hand gets the JSON error, never an exception.

Beside `app.py` in the image's task root; standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MISSING = object()
"""An event field that is absent (or under a level that is not an object)."""


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is MISSING or value is None or check(value)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _str_list_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list) and all(isinstance(item, str) for item in v) for v in value.values()
    )


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# What the handler and Powertools read from each event, and the type each must have.
HTTP_API_EVENT: dict[str, Callable[[Any], bool]] = {
    "rawPath": _is_str,
    "requestContext.http.method": _is_str,
    "requestContext.stage": _optional(_is_str),
    "headers": _optional(_str_map),
    "queryStringParameters": _optional(_str_map),
    "cookies": _optional(_str_list),
    "body": _optional(_is_str),
    "isBase64Encoded": _optional(_is_bool),
}
REST_API_EVENT: dict[str, Callable[[Any], bool]] = {
    "path": _is_str,
    "httpMethod": _is_str,
    "requestContext": _optional(lambda value: isinstance(value, dict)),
    "requestContext.stage": _optional(_is_str),
    "headers": _optional(_str_map),
    "multiValueHeaders": _optional(_str_list_map),
    "queryStringParameters": _optional(_str_map),
    "multiValueQueryStringParameters": _optional(_str_list_map),
    "body": _optional(_is_str),
    "isBase64Encoded": _optional(_is_bool),
}


def _field(event: Mapping[str, Any], path: str) -> Any:
    """`event["a"]["b"]` for "a.b"; `MISSING` where a level is absent or not an object."""
    value: Any = event
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def shape_problem(
    event: Mapping[str, Any], shape: Mapping[str, Callable[[Any], bool]]
) -> str | None:
    """The first field of `shape` that `event` lacks or has with the wrong type, if any."""
    return next((path for path, valid in shape.items() if not valid(_field(event, path))), None)
