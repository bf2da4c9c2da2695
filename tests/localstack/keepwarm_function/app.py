"""Someone else's tiny function, kept warm by lukewarm's warmer through the keepwarm helper."""

import keepwarm


@keepwarm.keep_warm
def handler(event, context):
    return {"statusCode": 200, "body": "hello from my own function"}
