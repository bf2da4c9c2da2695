"""lukewarm's Pulumi components, for its own program and for yours.

`Captioner` is the whole captioning service; `Warming` keeps any Lambda function's alias
warm. Install lukewarm from a checkout (`pip install -e <checkout>`, as `make` does): the
components build the image and zip the helper Lambdas from the checkout's own directories.

The names below are imported on first use: the local tools read `infra.settings` without
paying for Pulumi's import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Captioner": "infra.captioner",
    "CaptionerArgs": "infra.captioner",
    "CaptionerParts": "infra.captioner",
    "captioner_settings": "infra.captioner",
    "Settings": "infra.settings",
    "SettingsError": "infra.settings",
    "WarmSchedule": "infra.settings",
    "Warming": "infra.warming",
    "WarmingArgs": "infra.warming",
}

__all__ = [
    "Captioner",
    "CaptionerArgs",
    "CaptionerParts",
    "Settings",
    "SettingsError",
    "WarmSchedule",
    "Warming",
    "WarmingArgs",
    "captioner_settings",
]

if TYPE_CHECKING:
    from infra.captioner import Captioner, CaptionerArgs, CaptionerParts, captioner_settings
    from infra.settings import Settings, SettingsError, WarmSchedule
    from infra.warming import Warming, WarmingArgs


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'infra' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
