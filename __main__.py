"""lukewarm on AWS: an image-captioning Lambda behind an HTTP API, kept luke-warm.

Builds the function's image from function/ and pushes it to ECR, deploys it by digest
behind the `live` alias, puts an HTTP API in front of the alias, and, unless the stack
has no warm windows, schedules the warmer from warmer/ to keep instances warm. With
SnapStart, the pruner from pruner/ deletes old versions after each deploy.

The same components make `infra.Captioner`, for other programs (examples/); this program
composes them without a parent, so stacks deployed before that component keep their names.
"""

import pulumi

from infra.captioner import CaptionerArgs, captioner_parts
from infra.settings import from_pulumi_config
from infra.tags import tag_resources

settings = from_pulumi_config()
tag_resources(pulumi.get_project(), pulumi.get_stack(), settings.tags)
parts = captioner_parts(CaptionerArgs(settings))

pulumi.export("url", parts.api.url)
pulumi.export("caption_url", parts.api.caption_url)
pulumi.export("function_name", parts.service.function_name)
pulumi.export("alias_arn", parts.service.alias_arn)
pulumi.export("image_uri", parts.image.image_uri)
if parts.api.invoke_policy_arn is not None:
    pulumi.export("invoke_policy_arn", parts.api.invoke_policy_arn)
pulumi.export("warmer_name", parts.warming.warmer_name if parts.warming else None)
pulumi.export(
    "warm_schedules",
    [
        {
            "name": name,
            "schedule": window.schedule,
            "timezone": window.timezone,
            "concurrency": window.concurrency,
        }
        for window, name in zip(
            settings.warm_schedules,
            parts.warming.schedule_names if parts.warming else [],
            strict=True,
        )
    ],
)
