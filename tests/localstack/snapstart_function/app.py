"""A stand-in function with SnapStart hooks, for the local stack's restore tests.

It starts in a blink, so restores, reclaim, the cap and failing hooks are tested without
torch. Its after-restore hook gives the instance a new id and marks it restored, like
function/app.py's; `FAKE_RESTORE=raise` makes the hook fail, as a broken hook would.
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
    time.sleep(event.get("sleep", 0))
    return {**INSTANCE, "pid": os.getpid()}
