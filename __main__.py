"""lukewarm on AWS: an image-captioning Lambda behind an HTTP API, kept luke-warm.

Builds the function's image from function/ and pushes it to ECR, deploys it by digest
behind the `live` alias, puts an HTTP API in front of the alias, and, unless the stack
has no warm windows, schedules the warmer from warmer/ to keep instances warm. With
SnapStart, the pruner from pruner/ deletes old versions after each deploy. Unless
monitoring is off, a CloudWatch dashboard watches it all (and with `alarms`, alarms
notify an SNS topic).
"""

import pulumi

from infra.api import Api, ApiArgs
from infra.image import Image, ImageArgs
from infra.monitoring import AlarmThresholds, Monitoring, MonitoringArgs
from infra.service import ALIAS, Service, ServiceArgs
from infra.settings import from_pulumi_config
from infra.versions import Versions, VersionsArgs
from infra.warming import Warming, WarmingArgs
from lukewarm.cost import load_prices

settings = from_pulumi_config()

image = Image(
    "image",
    ImageArgs(
        context="function",
        dockerfile="function/Dockerfile",
        platform=settings.platform,
        model_dir=settings.model_dir,
        runtime=settings.runtime,
        keep_images=settings.keep_images,
    ),
)
service = Service(
    "service",
    ServiceArgs(
        image_uri=image.image_uri,
        architecture=settings.architecture,
        runtime=settings.runtime,
        memory_size=settings.memory_size,
        timeout=settings.timeout,
        reserved_concurrency=settings.reserved_concurrency,
        provisioned_concurrency=settings.provisioned_concurrency,
        log_retention_days=settings.log_retention_days,
        log_level=settings.log_level,
        snap_start=settings.snap_start,
    ),
)
api = Api(
    "api",
    ApiArgs(
        function_name=service.function_name,
        alias_name=service.alias_name,
        alias_arn=service.alias_arn,
        throttle_rate=settings.throttle_rate,
        throttle_burst=settings.throttle_burst,
        cors_origins=settings.cors_origins,
    ),
)
warming = None
if settings.warm_schedules:
    warming = Warming(
        "warming",
        WarmingArgs(
            function_name=service.function_name,
            alias_name=service.alias_name,
            alias_arn=service.alias_arn,
            alias_version=service.alias_version,
            function_timeout=settings.timeout,
            image_uri=image.image_uri,
            schedules=settings.warm_schedules,
            hold_ms=settings.warm_hold_ms,
            prewarm_on_deploy=settings.prewarm_on_deploy,
            log_retention_days=settings.log_retention_days,
        ),
    )
if settings.snap_start:
    # Each SnapStart version keeps a billed snapshot: delete all but the newest few.
    Versions(
        "versions",
        VersionsArgs(
            function_name=service.function_name,
            function_arn=service.function_arn,
            alias_name=service.alias_name,
            alias_arn=service.alias_arn,
            alias_version=service.alias_version,
            keep=settings.snap_start_versions,
            log_retention_days=settings.log_retention_days,
        ),
    )
monitoring = None
if settings.monitoring != "off":
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            function_name=service.function_name,
            alias_name=ALIAS,
            api_id=api.api_id,
            function_log_group=service.log_group_name,
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

pulumi.export("url", api.url)
pulumi.export("caption_url", api.caption_url)
pulumi.export("function_name", service.function_name)
pulumi.export("alias_arn", service.alias_arn)
pulumi.export("image_uri", image.image_uri)
pulumi.export("warmer_name", warming.warmer_name if warming else None)
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
            settings.warm_schedules, warming.schedule_names if warming else [], strict=True
        )
    ],
)
pulumi.export("dashboard_url", monitoring.dashboard_url if monitoring else None)
pulumi.export("alarm_topic_arn", monitoring.topic_arn if monitoring else None)
