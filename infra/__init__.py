"""The Pulumi program's components, one concern a module, and the stack's settings.

What lives here: `settings` (every config key, validated), `schedules` (when warm
windows fire), then one component a module: `image`, `service` (the function and its
alias), `helper` (the helper Lambdas), `api`, `warming`, `versions`, and `captioner`
(all of them as one service, for other programs); and `mocks`, the fake cloud the program
runs against offline (the tests and `lukewarm preview`).

What it may import: Pulumi, `contract`, and the standard library; `settings` and
`schedules` (which the local tools read too) not even Pulumi. Never `lukewarm`,
`toolkit`, `captioner` or the Lambdas' own code: it deploys them as files.

For your own program: `Captioner` is the whole captioning service; `Warming` keeps any
Lambda function's alias warm. Install lukewarm from a checkout (`pip install -e
<checkout>`, as `make` does): the components build the image and zip the helper Lambdas
from the checkout's own folders. The names below are imported on first use, so that
reading `infra.settings` never pays for Pulumi's import.
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
    "WarmSchedule": "infra.schedules",
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
    from infra.schedules import WarmSchedule
    from infra.settings import Settings, SettingsError
    from infra.warming import Warming, WarmingArgs


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'infra' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
