"""The same tiny function without the keepwarm helper: it treats a warm-up as any event."""


def handler(event, context):
    return {"statusCode": 200, "body": "hello from my own function"}
