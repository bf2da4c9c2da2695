"""A stand-in function with SnapStart hooks, for the local stack's restore tests.

It starts in a blink, so restores, reclaim, the cap, failing hooks and the warmer are
tested without torch. Its after-restore hook gives the instance a new id and marks it
restored, like function/app.py's, and it answers warm-ups as that one does;
`FAKE_RESTORE=raise` makes the hook fail, as a broken hook would.
"""

import os
import time
import uuid

from snapshot_restore_py import register_after_restore

INSTANCE = {"id": uuid.uuid4().hex[:8], "restored": False, "hooks_run": 0}


@register_after_restore
def renew():
    if os.environ.get("FAKE_RESTORE") == "raise":
        raise RuntimeError("restore failed on purpose")
    INSTANCE.update(id=uuid.uuid4().hex[:8], restored=True, hooks_run=INSTANCE["hooks_run"] + 1)


def handler(event, context):
    first = not INSTANCE.setdefault("served", 0)
    INSTANCE["served"] += 1
    if "lukewarm" in event:
        time.sleep(event["lukewarm"].get("hold_ms", 0) / 1000)
        restored = first and INSTANCE["restored"]
        return {"warm": True, "instance": INSTANCE["id"], "cold_start": False, "restored": restored}
    time.sleep(event.get("sleep", 0))
    return {**INSTANCE, "pid": os.getpid()}
