"""Who may call the API: `lukewarm:auth` none, iam or jwt, its settings, routes and policy."""

from __future__ import annotations

import json
import warnings

import pytest

from infra.mocks import (
    ACCOUNT,
    API_ID,
    AUTHORIZER,
    HTTP_API,
    IAM_POLICY,
    REGION,
    ROUTE,
    deploy,
)
from infra.settings import SettingsError, load_settings

ISSUER = "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_AbCdEf123"
AUDIENCE = "4k2example9clientid"
JWT = {"auth": "jwt", "jwtIssuer": ISSUER, "jwtAudience": AUDIENCE}
CAPTION_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/POST/caption"


def routes(config: dict[str, object] | None = None) -> dict[str, dict[str, object]]:
    return {route.inputs["routeKey"]: route.inputs for route in deploy(config).of_type(ROUTE)}


# --- settings -------------------------------------------------------------------------------


def test_auth_is_off_by_default() -> None:
    settings = load_settings()

    assert (settings.auth, settings.jwt_issuer, settings.jwt_audience) == ("none", None, None)


def test_jwt_settings_as_pulumi_hands_them_over() -> None:
    settings = load_settings({"auth": "JWT", "jwtIssuer": ISSUER, "jwtAudience": AUDIENCE})

    assert (settings.auth, settings.jwt_issuer, settings.jwt_audience) == ("jwt", ISSUER, AUDIENCE)


@pytest.mark.parametrize(
    ("config", "problems"),
    [
        (
            {"auth": "cognito"},
            ['lukewarm:auth = "cognito": must be none, iam or jwt'],
        ),
        (
            {"auth": "jwt"},
            [
                'lukewarm:jwtIssuer = "": must be set when lukewarm:auth is jwt',
                'lukewarm:jwtAudience = "": must be set when lukewarm:auth is jwt',
            ],
        ),
        (
            {"auth": "jwt", "jwtIssuer": ISSUER},
            ['lukewarm:jwtAudience = "": must be set when lukewarm:auth is jwt'],
        ),
        (
            {**JWT, "jwtIssuer": "http://issuer.example.com"},
            [
                'lukewarm:jwtIssuer = "http://issuer.example.com": must be the issuer\'s '
                "https:// URL, exactly as its tokens' iss claim says it "
                "(e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID), or empty"
            ],
        ),
        *(
            (
                {**JWT, "jwtIssuer": issuer},
                [
                    f"lukewarm:jwtIssuer = {shown}: "
                    "must be the issuer's https:// URL, exactly as its tokens' iss claim says it "
                    "(e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID), or empty"
                ],
            )
            for issuer, shown in (
                (5, "5"),
                (f"{ISSUER}?tenant=1", f'"{ISSUER}?tenant=1"'),
                (f"{ISSUER}#keys", f'"{ISSUER}#keys"'),
                (f"{ISSUER}/a b", f'"{ISSUER}/a b"'),
            )
        ),
        (
            {**JWT, "jwtAudience": 5},
            [
                "lukewarm:jwtAudience = 5: must be the audience a token is for "
                "(such as an app client id), or empty"
            ],
        ),
        (
            {**JWT, "jwtIssuer": "https://"},
            [
                'lukewarm:jwtIssuer = "https://": must be the issuer\'s https:// URL, exactly '
                "as its tokens' iss claim says it "
                "(e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID), or empty"
            ],
        ),
        (
            {**JWT, "jwtAudience": "two words"},
            [
                'lukewarm:jwtAudience = "two words": must be the audience a token is for '
                "(such as an app client id), or empty"
            ],
        ),
        (
            {"auth": "iam", "jwtIssuer": ISSUER},
            [
                f'lukewarm:jwtIssuer = "{ISSUER}": is used only with lukewarm:auth jwt '
                "(auth is iam): set auth to jwt, or remove this key"
            ],
        ),
        (
            {"jwtAudience": AUDIENCE},
            [
                f'lukewarm:jwtAudience = "{AUDIENCE}": is used only with lukewarm:auth jwt '
                "(auth is none): set auth to jwt, or remove this key"
            ],
        ),
    ],
)
def test_invalid_auth_settings_say_what_is_wrong(
    config: dict[str, object], problems: list[str]
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(config)

    assert list(refused.value.problems) == problems


def test_a_refused_auth_setting_creates_nothing() -> None:
    with pytest.raises(SettingsError, match="jwtAudience"):
        deploy({"auth": "jwt", "jwtIssuer": ISSUER})


# --- the program under mocks, per mode ------------------------------------------------------


def test_without_auth_every_route_is_open_and_there_is_no_policy() -> None:
    deployment = deploy()

    assert {key: route["authorizationType"] for key, route in routes().items()} == {
        "POST /caption": "NONE",
        "GET /": "NONE",
        "GET /health": "NONE",
        "$default": "NONE",
    }
    assert deployment.of_type(AUTHORIZER) == []
    assert deployment.of_type(IAM_POLICY) == []
    assert "invoke_policy_arn" not in deployment.outputs


def test_iam_signs_the_caption_route_and_keeps_page_and_health_public() -> None:
    found = routes({"auth": "iam"})

    assert {key: route["authorizationType"] for key, route in found.items()} == {
        "POST /caption": "AWS_IAM",
        "GET /": "NONE",
        "GET /health": "NONE",
        # Any other request also runs the function: it takes the auth too.
        "$default": "AWS_IAM",
    }
    assert all("authorizerId" not in route for route in found.values())


def test_iam_exports_a_policy_that_invokes_the_caption_route_only() -> None:
    deployment = deploy({"auth": "iam"})
    (policy,) = deployment.of_type(IAM_POLICY)
    document = json.loads(policy.inputs["policy"])

    assert document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeCaptionRoute",
                "Effect": "Allow",
                "Action": "execute-api:Invoke",
                "Resource": CAPTION_ARN,
            }
        ],
    }
    assert (
        deployment.outputs["invoke_policy_arn"] == deployment.state(IAM_POLICY, policy.name)["arn"]
    )
    assert deployment.outputs["invoke_policy_arn"].startswith(f"arn:aws:iam::{ACCOUNT}:policy/")


def test_the_invoke_policy_lints_clean_with_parliament() -> None:
    with warnings.catch_warnings():
        # parliament reads its bundled IAM definitions through pkg_resources.
        warnings.simplefilter("ignore", UserWarning)
        from parliament import analyze_policy_string

    (policy,) = deploy({"auth": "iam"}).of_type(IAM_POLICY)
    analysed = analyze_policy_string(policy.inputs["policy"], include_community_auditors=True)

    assert [(finding.issue, finding.detail) for finding in analysed.findings] == []
    # The linter is alive: a misspelt action in the same document is a finding.
    broken = policy.inputs["policy"].replace("execute-api:Invoke", "execute-api:Invok")
    assert [f.issue for f in analyze_policy_string(broken).findings] == ["UNKNOWN_ACTION"]


def test_jwt_authorizer_checks_the_issuer_and_audience_from_the_header() -> None:
    deployment = deploy(JWT)
    authorizer = deployment.one(AUTHORIZER)

    assert authorizer["apiId"] == API_ID
    assert authorizer["authorizerType"] == "JWT"
    assert authorizer["identitySources"] == ["$request.header.Authorization"]
    assert authorizer["jwtConfiguration"] == {"issuer": ISSUER, "audiences": [AUDIENCE]}
    assert deployment.of_type(IAM_POLICY) == []
    assert "invoke_policy_arn" not in deployment.outputs


def test_jwt_guards_the_caption_route_and_keeps_page_and_health_public() -> None:
    found = routes(JWT)
    authorizer_id = "api-jwt-id"

    assert {
        key: (route["authorizationType"], route.get("authorizerId")) for key, route in found.items()
    } == {
        "POST /caption": ("JWT", authorizer_id),
        "GET /": ("NONE", None),
        "GET /health": ("NONE", None),
        "$default": ("JWT", authorizer_id),
    }


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        ("none", ["content-type"]),
        ("jwt", ["content-type", "authorization"]),
        (
            "iam",
            [
                "content-type",
                "authorization",
                "x-amz-date",
                "x-amz-security-token",
                "x-amz-content-sha256",
            ],
        ),
    ],
)
def test_cors_lets_other_origins_send_what_the_auth_reads(auth: str, headers: list[str]) -> None:
    config = {**(JWT if auth == "jwt" else {"auth": auth}), "corsOrigins": ["https://app.example"]}
    cors = deploy(config).one(HTTP_API)["corsConfiguration"]

    assert cors["allowHeaders"] == headers
