"""A stand-in function for the local stack's own tests: it misbehaves on request.

The pool and the warmer are tested against every way a function can go wrong (slow,
raising, dying) without waiting for torch to import. `FAKE_WARM` in the environment
makes the warm-up event fail (`raise`), overrun (`sleep:<seconds>`) or answer the given
JSON (`answer:<json>`); `FAKE_INSTANCE`
gives every instance the same name, as if Lambda had sent every invoke to one;
`FAKE_INIT_S` makes every instance take that long to import, like torch. A request
with `?started=<path>` creates that file as it begins, so a test can wait for it.
"""

import json
import os
import time
import uuid

INSTANCE = os.environ.get("FAKE_INSTANCE") or uuid.uuid4().hex[:8]
time.sleep(float(os.environ.get("FAKE_INIT_S", "0")))
_served = []


def handler(event, context):
    _served.append(context.aws_request_id)
    cold = len(_served) == 1
    if "lukewarm" in event:
        behaviour = os.environ.get("FAKE_WARM", "")
        if behaviour == "raise":
            raise RuntimeError("warm-up failed on purpose")
        if behaviour.startswith("sleep:"):
            time.sleep(float(behaviour.split(":", 1)[1]))
        if behaviour.startswith("answer:"):
            return json.loads(behaviour.split(":", 1)[1])
        time.sleep(event["lukewarm"].get("hold_ms", 0) / 1000)
        return {"warm": True, "instance": INSTANCE, "cold_start": cold, "init_ms": 1.0}
    if "routeKey" not in event:
        return direct(event, cold)
    query = event.get("queryStringParameters") or {}
    if "started" in query:
        with open(query["started"], "w") as started:
            started.write(str(os.getpid()))
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if "fail" in query:
        raise RuntimeError("failed on purpose")
    if "exit" in query:
        os._exit(3)
    answer = {
        "instance": INSTANCE,
        "pid": os.getpid(),
        "cold_start": cold,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "event": {key: value for key, value in event.items() if key != "body"},
        "body": event.get("body"),
    }
    headers = {"content-type": "application/json", "x-fake": "yes"}
    if "cors" in query:  # a function that sets its own CORS header
        headers["access-control-allow-origin"] = query["cors"]
    return {
        "statusCode": 200,
        "headers": headers,
        "body": json.dumps(answer),
        "cookies": ["a=1", "b=2"],
    }


def direct(event, cold):
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "raise" in event:
        raise ValueError(event["raise"])
    if "unserialisable" in event:
        return {"value": object()}
    return {
        "instance": INSTANCE,
        "pid": os.getpid(),
        "cold_start": cold,
        "log_level": os.environ.get("AWS_LAMBDA_LOG_LEVEL"),
        "echo": event,
    }
