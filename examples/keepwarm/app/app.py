"""Your function: whatever it does, `keepwarm.keep_warm` answers lukewarm's warm-ups for it."""

import keepwarm


@keepwarm.keep_warm
def handler(event, context):
    return {"statusCode": 200, "body": "hello"}
