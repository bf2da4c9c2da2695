"""The version pruner Lambda: keep the captioner's SnapStart bill bounded.

Every deploy publishes a version of the captioning function, and with SnapStart each
published version keeps a snapshot that is billed for as long as it is cached. Run once
per deploy (after the `live` alias has moved), this deletes all but the newest `keep`
versions, always keeping the one `live` points at. Lambda itself refuses to delete a
version an alias points at, so a version that another alias uses is reported and kept.
Standard library, boto3 and `contract` only, so it deploys as a small zip.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from contract import MAX_KEPT_VERSIONS


def parse_event(event: Any) -> int:
    """`keep` from the deploy's input, or ValueError saying what is wrong."""
    keep = event.get("keep") if isinstance(event, dict) else None
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEPT_VERSIONS:
        raise ValueError(
            f'the event must be {{"keep": <int from 1 to {MAX_KEPT_VERSIONS}>}}, got {event!r}'
        )
    return keep


def prune(client: Any, function_name: str, alias: str, keep: int) -> dict[str, Any]:
    """Delete the function's published versions beyond the newest `keep` and `alias`'s."""
    live = client.get_alias(FunctionName=function_name, Name=alias)["FunctionVersion"]
    paginator = client.get_paginator("list_versions_by_function")
    published = sorted(
        int(version["Version"])
        for page in paginator.paginate(FunctionName=function_name)
        for version in page["Versions"]
        if version["Version"].isdigit()
    )
    kept = {str(version) for version in published[-keep:]} | {live}
    deleted, refused = [], []
    for version in map(str, published):
        if version in kept:
            continue
        try:
            client.delete_function(FunctionName=function_name, Qualifier=version)
        except ClientError as error:
            refused.append({"version": version, "reason": error.response["Error"]["Code"]})
        else:
            deleted.append(version)
    return {
        "live": live,
        "kept": sorted(kept | {item["version"] for item in refused}, key=int),
        "deleted": deleted,
        "refused": refused,
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    keep = parse_event(event)
    client = boto3.client("lambda", config=Config(retries={"mode": "standard"}))
    summary = prune(client, os.environ["FUNCTION_NAME"], os.environ["FUNCTION_QUALIFIER"], keep)
    print(json.dumps({"message": "pruned old versions", "keep": keep, **summary}))
    return summary
