"""The HTTP API in front of the function's `live` alias, and who may call it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_aws import apigatewayv2, iam, lambda_

from contract import (
    CAPTION_ROUTE,
    CORS_ALLOW_METHODS,
    CORS_MAX_AGE_S,
    PUBLIC_ROUTES,
    ROUTES,
    cors_allow_headers,
)

JWT_IDENTITY_SOURCE = "$request.header.Authorization"
ROUTE_AUTHORIZATION = {"none": "NONE", "iam": "AWS_IAM", "jwt": "JWT"}
INTEGRATION_TIMEOUT_MS = 30_000
"""HTTP API's hard maximum; the function's own timeout is never longer (see settings)."""


@dataclass
class ApiArgs:
    function_name: pulumi.Input[str]
    alias_name: pulumi.Input[str]
    alias_arn: pulumi.Input[str]
    throttle_rate: float
    throttle_burst: int
    cors_origins: Sequence[str]
    """Origins allowed from browsers on other sites; empty for none."""
    auth: str = "none"
    """`none`, `iam` (SigV4) or `jwt` (a JWT authorizer for `jwt_issuer`/`jwt_audience`)."""
    jwt_issuer: str | None = None
    jwt_audience: str | None = None


class Api(pulumi.ComponentResource):
    """An HTTP API (payload 2.0) whose routes all go to the function's alias."""

    url: pulumi.Output[str]
    caption_url: pulumi.Output[str]
    execution_arn: pulumi.Output[str]
    invoke_policy_arn: pulumi.Output[str] | None
    """With `iam`: the managed policy that lets a principal call the caption route."""
    api_id: pulumi.Output[str]
    """The API's id: its CloudWatch metrics' `ApiId` dimension."""

    def __init__(
        self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("lukewarm:index:Api", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        cors = None
        if args.cors_origins:
            cors = apigatewayv2.ApiCorsConfigurationArgs(
                allow_origins=list(args.cors_origins),
                allow_methods=list(CORS_ALLOW_METHODS),
                allow_headers=list(cors_allow_headers(args.auth)),
                max_age=CORS_MAX_AGE_S,
            )
        api = apigatewayv2.Api(
            f"{name}-http",
            protocol_type="HTTP",
            description="lukewarm: image captions",
            cors_configuration=cors,
            opts=child,
        )
        integration = apigatewayv2.Integration(
            f"{name}-lambda",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=args.alias_arn,
            payload_format_version="2.0",
            timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
            opts=child,
        )
        target = pulumi.Output.concat("integrations/", integration.id)
        authorizer = None
        if args.auth == "jwt":
            if not (args.jwt_issuer and args.jwt_audience):
                raise ValueError("a JWT authorizer needs jwt_issuer and jwt_audience")
            authorizer = apigatewayv2.Authorizer(
                f"{name}-jwt",
                api_id=api.id,
                authorizer_type="JWT",
                # The token alone or after "Bearer ", as API Gateway reads this source.
                identity_sources=[JWT_IDENTITY_SOURCE],
                jwt_configuration=apigatewayv2.AuthorizerJwtConfigurationArgs(
                    issuer=args.jwt_issuer, audiences=[args.jwt_audience]
                ),
                opts=child,
            )
        # The named routes, plus $default so that unknown paths and methods get the
        # function's JSON 404/405 rather than API Gateway's own bare error body.
        for route_key in (*ROUTES, "$default"):
            protected = route_key not in PUBLIC_ROUTES
            apigatewayv2.Route(
                f"{name}-route-{_slug(route_key)}",
                api_id=api.id,
                route_key=route_key,
                target=target,
                authorization_type=ROUTE_AUTHORIZATION[args.auth if protected else "none"],
                authorizer_id=authorizer.id if authorizer and protected else None,
                opts=child,
            )
        apigatewayv2.Stage(
            f"{name}-stage",
            api_id=api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings=apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=args.throttle_rate,
                throttling_burst_limit=args.throttle_burst,
            ),
            opts=child,
        )
        lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=args.function_name,
            qualifier=args.alias_name,
            principal="apigateway.amazonaws.com",
            # Only this API, any stage and route, may invoke the alias.
            source_arn=pulumi.Output.concat(api.execution_arn, "/*/*"),
            opts=child,
        )

        self.invoke_policy_arn = None
        if args.auth == "iam":
            policy = iam.Policy(
                f"{name}-invoke-policy",
                description="lukewarm: call POST /caption of one HTTP API (attach to callers)",
                policy=invoke_policy_document(api.execution_arn),
                opts=child,
            )
            self.invoke_policy_arn = policy.arn

        self.execution_arn = api.execution_arn
        self.api_id = api.id
        self.url = pulumi.Output.concat(api.api_endpoint, "/")
        self.caption_url = pulumi.Output.concat(api.api_endpoint, "/caption")
        self.register_outputs({"url": self.url, "caption_url": self.caption_url})


def invoke_policy_document(execution_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Least privilege for a caller: `execute-api:Invoke` on the caption route of this API's
    `$default` stage, and nothing else (not the other routes, stages or APIs)."""
    method, path = CAPTION_ROUTE.split(" ", 1)
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "InvokeCaptionRoute",
                    "Effect": "Allow",
                    "Action": "execute-api:Invoke",
                    "Resource": pulumi.Output.concat(execution_arn, f"/$default/{method}{path}"),
                }
            ],
        }
    )


def _slug(route_key: str) -> str:
    """`POST /caption` → `post-caption`, `GET /` → `get-root`, `$default` → `default`."""
    method, _, path = route_key.partition(" ")
    words = [method.strip("$").lower(), *(part for part in path.split("/") if part)]
    if path == "/":
        words.append("root")
    return "-".join(words)
