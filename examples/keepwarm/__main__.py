"""Keep a function you already have warm, with lukewarm's warmer.

The first half is the function as you may already have it: a small Python zip behind an
alias, with its own role and log group. The second half is all that keep-warm adds: a
`Warming` component aimed at that alias. The function ships lukewarm's `keepwarm` helper
(and the `contract` it reads the warm-up event with) beside its handler, so the warmer can
count the instances it reached.
"""

import json
import os

import pulumi
from pulumi_aws import cloudwatch, iam, lambda_

import contract
import keepwarm
from infra import Warming, WarmingArgs, WarmSchedule

# --- The function you already have -------------------------------------------------------
logs = cloudwatch.LogGroup("hello-logs", retention_in_days=14)
role = iam.Role(
    "hello-role",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ),
)
iam.RolePolicyAttachment(
    "hello-logs-policy",
    role=role.name,
    policy_arn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
)
function = lambda_.Function(
    "hello",
    runtime="python3.12",
    handler="app.handler",
    code=pulumi.AssetArchive(
        {
            "app.py": pulumi.FileAsset("app/app.py"),
            "keepwarm.py": pulumi.FileAsset(os.path.relpath(keepwarm.__file__)),
            "contract/__init__.py": pulumi.FileAsset(os.path.relpath(contract.__file__)),
        }
    ),
    role=role.arn,
    timeout=10,
    publish=True,
    logging_config=lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=logs.name),
)
alias = lambda_.Alias(
    "hello-live", name="live", function_name=function.name, function_version=function.version
)

# --- What keep-warm adds -----------------------------------------------------------------
warming = Warming(
    "hello-warming",
    WarmingArgs.for_alias(
        alias,
        function_timeout=10,
        schedules=[WarmSchedule("rate(5 minutes)", concurrency=3)],
    ),
)

pulumi.export("function_name", function.name)
pulumi.export("warmer_name", warming.warmer_name)
