"""lukewarm's captioner in your own program, configured from code instead of stack config.

Here: a Graviton function with 3 GB (about 1.7 vCPU), SnapStart, at most 4 instances, two
kept warm on weekday office hours in Berlin, logs kept a month. Everything not named keeps
lukewarm's default; a value lukewarm would refuse raises before anything is created.
"""

import pulumi

from infra import Captioner, CaptionerArgs, WarmSchedule, captioner_settings

settings = captioner_settings(
    memory_size=3008,
    architecture="arm64",
    snap_start=True,
    reserved_concurrency=4,
    warm_schedules=[
        WarmSchedule("cron(0/5 8-18 ? * MON-FRI *)", concurrency=2, timezone="Europe/Berlin")
    ],
    log_retention_days=30,
)
captions = Captioner("captions", CaptionerArgs(settings))

pulumi.export("url", captions.url)
pulumi.export("function_name", captions.function_name)
