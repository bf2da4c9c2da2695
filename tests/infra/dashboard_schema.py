"""AWS's documented CloudWatch dashboard-body structure, as a JSON Schema.

Transcribed from "Dashboard Body Structure and Syntax" (CloudWatch API Reference,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html):
the overall structure, the widgets array, and the properties of the metric, log, text and
alarm widget objects that lukewarm's dashboard uses, with each documented property's type
and allowed values. Properties the page does not list are refused, so a misspelt one (which
CloudWatch would reject at `PutDashboard`) fails here. The metrics-array format (namespace,
name, dimension name/value pairs, then one rendering-options object; or one expression
object) is checked by `metric_entry_problems`, which JSON Schema cannot say simply.
"""

from __future__ import annotations

from typing import Any

RENDERING_OPTIONS = {
    "accountId",
    "color",
    "expression",
    "id",
    "label",
    "period",
    "region",
    "stat",
    "visible",
    "yAxis",
}
"""The documented rendering properties of one entry of a metric widget's `metrics` array."""

_PERIOD = {
    "anyOf": [{"enum": [1, 5, 10, 30]}, {"type": "integer", "minimum": 60, "multipleOf": 60}]
}
_AXIS = {
    "type": "object",
    "properties": {
        "min": {"type": "number"},
        "max": {"type": "number"},
        "label": {"type": "string"},
        "showUnits": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_HORIZONTAL = {
    "type": "object",
    "required": ["value"],
    "properties": {
        "value": {"type": "number"},
        "label": {"type": "string"},
        "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
        "fill": {"enum": ["above", "below", "none"]},
        "visible": {"type": "boolean"},
        "yAxis": {"enum": ["left", "right"]},
    },
    "additionalProperties": False,
}
_VERTICAL = {
    "type": "object",
    "required": ["value"],
    "properties": {
        "value": {"type": "string", "format": "date-time"},
        "label": {"type": "string"},
        "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
        "fill": {"enum": ["before", "after", "none"]},
        "visible": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_METRIC_PROPERTIES = {
    "type": "object",
    "required": ["metrics", "region"],
    "properties": {
        "accountId": {"type": "string"},
        "annotations": {
            "type": "object",
            "properties": {
                "horizontal": {"type": "array", "items": _HORIZONTAL},
                "vertical": {"type": "array", "items": _VERTICAL},
            },
            "additionalProperties": False,
        },
        "liveData": {"type": "boolean"},
        "legend": {
            "type": "object",
            "properties": {"position": {"enum": ["right", "bottom", "hidden"]}},
            "additionalProperties": False,
        },
        "metrics": {"type": "array", "minItems": 1, "maxItems": 500, "items": {"type": "array"}},
        "period": _PERIOD,
        "region": {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-\\d$"},
        "stacked": {"type": "boolean"},
        "sparkline": {"type": "boolean"},
        "stat": {
            "type": "string",
            "pattern": "^(SampleCount|Average|Sum|Minimum|Maximum|p\\d+(\\.\\d+)?)$",
        },
        "title": {"type": "string"},
        "view": {"enum": ["timeSeries", "singleValue", "gauge", "bar", "pie", "table"]},
        "yAxis": {
            "type": "object",
            "properties": {"left": _AXIS, "right": _AXIS},
            "additionalProperties": False,
        },
        "setPeriodToTimeRange": {"type": "boolean"},
        "singleValueFullPrecision": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_LOG_PROPERTIES = {
    "type": "object",
    "required": ["query", "region"],
    "properties": {
        "accountId": {"type": "string"},
        "query": {"type": "string", "pattern": "^SOURCE '[^']+'( *\\| *SOURCE '[^']+')* *\\|"},
        "region": {"type": "string"},
        "title": {"type": "string"},
        "view": {"enum": ["table", "timeSeries", "bar", "pie"]},
        "stacked": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_TEXT_PROPERTIES = {
    "type": "object",
    "required": ["markdown"],
    "properties": {
        "markdown": {"type": "string", "minLength": 1},
        "background": {"enum": ["transparent", "solid"]},
    },
    "additionalProperties": False,
}
_ALARM_PROPERTIES = {
    "type": "object",
    "required": ["alarms"],
    "properties": {
        "alarms": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {"type": "string", "pattern": "^arn:aws[a-z-]*:cloudwatch:"},
        },
        "sortBy": {"enum": ["default", "stateUpdatedTimestamp", "timestamp"]},
        "states": {"type": "array", "items": {"enum": ["ALARM", "INSUFFICIENT_DATA", "OK"]}},
        "title": {"type": "string"},
    },
    "additionalProperties": False,
}


def _widget(kind: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "if": {"properties": {"type": {"const": kind}}},
        "then": {"properties": {"properties": properties}},
    }


WIDGET = {
    "type": "object",
    "required": ["type", "properties"],
    "properties": {
        "type": {"enum": ["metric", "text", "log", "alarm", "explorer"]},
        "x": {"type": "integer", "minimum": 0},
        "y": {"type": "integer", "minimum": 0},
        "width": {"type": "integer", "minimum": 1, "maximum": 24},
        "height": {"type": "integer", "minimum": 1, "maximum": 1000},
        "properties": {"type": "object"},
    },
    "additionalProperties": False,
    "allOf": [
        _widget("metric", _METRIC_PROPERTIES),
        _widget("log", _LOG_PROPERTIES),
        _widget("text", _TEXT_PROPERTIES),
        _widget("alarm", _ALARM_PROPERTIES),
    ],
}
DASHBOARD_BODY = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["widgets"],
    "properties": {
        "widgets": {"type": "array", "maxItems": 500, "items": WIDGET},
        "start": {"type": "string", "pattern": "^-P"},
        "end": {"type": "string"},
        "periodOverride": {"enum": ["auto", "inherit"]},
        "variables": {"type": "array"},
    },
    "additionalProperties": False,
}


def metric_entry_problems(entry: list[Any]) -> list[str]:
    """What is wrong with one `metrics` entry against the documented format."""
    if len(entry) == 1 and isinstance(entry[0], dict):
        options = entry[0]
        problems = [] if "expression" in options else ["a lone object must be an expression"]
    else:
        options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
        names = entry[:-1] if options else entry
        problems = []
        if len(names) < 2 or not all(isinstance(part, str) for part in names):
            problems.append(f"{entry}: namespace and metric name must be strings")
        elif len(names) % 2:
            problems.append(f"{entry}: dimensions must come as name/value pairs")
        if "expression" in options:
            problems.append(f"{entry}: a metric entry cannot also be an expression")
    unknown = set(options) - RENDERING_OPTIONS
    if unknown:
        problems.append(f"{entry}: undocumented rendering options {sorted(unknown)}")
    if "yAxis" in options and options["yAxis"] not in ("left", "right"):
        problems.append(f"{entry}: yAxis is left or right")
    return problems
