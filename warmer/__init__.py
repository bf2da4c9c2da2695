"""The warmer Lambda's source: `handler.py`, zipped with `contract` (standard library and
boto3 only). It may import `contract` and nothing else of the project."""
