"""lukewarm on AWS: an image-captioning Lambda behind an HTTP API, kept luke-warm.

Builds the function's image from function/ and pushes it to ECR, deploys it by digest
behind the `live` alias, puts an HTTP API in front of the alias, and, unless the stack
has no warm windows, schedules the warmer from warmer/ to keep instances warm. The pruner
from pruner/ deletes old versions after each deploy. Unless monitoring is off, a
CloudWatch dashboard watches it all (and with `alarms`, alarms notify an SNS topic).

The same components make `infra.Captioner`, for other programs (examples/); this program
composes them without a parent, so stacks deployed before that component keep their names.
"""

import pulumi

from contract import ALIAS
from infra.captioner import CaptionerArgs, captioner_parts
from infra.monitoring import AlarmThresholds, Monitoring, MonitoringArgs
from infra.settings import from_pulumi_config, warnings_for
from infra.tags import tag_resources
from lukewarm.pricing import load_prices

settings = from_pulumi_config()
for warning in warnings_for(settings):
    pulumi.log.warn(warning)
tag_resources(pulumi.get_project(), pulumi.get_stack(), settings.tags)
parts = captioner_parts(CaptionerArgs(settings))

monitoring = None
if settings.monitoring != "off":
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            function_name=parts.service.function_name,
            alias_name=ALIAS,
            api_id=parts.api.api_id,
            function_log_group=parts.service.log_group_name,
            timeout_s=settings.timeout,
            memory_size=settings.memory_size,
            architecture=settings.architecture,
            reserved_concurrency=settings.reserved_concurrency,
            provisioned_concurrency=settings.provisioned_concurrency,
            warm_schedules=settings.warm_schedules,
            alarms=AlarmThresholds(cold_start_rate_percent=settings.cold_start_alarm)
            if settings.monitoring == "alarms"
            else None,
            alarm_email=settings.alarm_email,
            prices=load_prices(),
        ),
    )

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
pulumi.export("dashboard_url", monitoring.dashboard_url if monitoring else None)
pulumi.export("alarm_topic_arn", monitoring.topic_arn if monitoring else None)
