"""infra/api.py: the HTTP API, its routes, stage, CORS and permission to invoke the alias."""

from __future__ import annotations

from infra.mocks import (
    ACCOUNT,
    API_ID,
    HTTP_API,
    INTEGRATION,
    PERMISSION,
    REGION,
    ROUTE,
    STAGE,
    deploy,
)


def test_api_proxies_to_the_live_alias_with_payload_2() -> None:
    deployment = deploy()
    integration = deployment.one(INTEGRATION)

    assert deployment.one(HTTP_API)["protocolType"] == "HTTP"
    assert integration["apiId"] == API_ID
    assert integration["integrationType"] == "AWS_PROXY"
    assert integration["integrationUri"] == deployment.outputs["alias_arn"]
    assert integration["integrationUri"].endswith(":live")
    assert integration["payloadFormatVersion"] == "2.0"
    assert integration["timeoutMilliseconds"] == 30_000


def test_routes_of_the_design_and_default_all_reach_the_function() -> None:
    routes = deploy().of_type(ROUTE)

    assert sorted(route.inputs["routeKey"] for route in routes) == [
        "$default",
        "GET /",
        "GET /health",
        "POST /caption",
    ]
    assert {route.inputs["target"] for route in routes} == {"integrations/api-lambda-id"}


def test_default_stage_deploys_itself_and_throttles() -> None:
    stage = deploy({"throttleRate": 2.5, "throttleBurst": 4}).one(STAGE)

    assert stage["name"] == "$default"
    assert stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"] == {"throttlingRateLimit": 2.5, "throttlingBurstLimit": 4}


def test_no_cross_origin_access_unless_configured() -> None:
    assert "corsConfiguration" not in deploy().one(HTTP_API)


def test_cors_allows_the_configured_origins() -> None:
    origins = ["https://example.com", "http://localhost:8080"]
    cors = deploy({"corsOrigins": origins}).one(HTTP_API)["corsConfiguration"]

    assert cors["allowOrigins"] == origins
    assert cors["allowMethods"] == ["GET", "POST"]
    assert cors["allowHeaders"] == ["content-type"]


def test_the_local_stack_emulates_the_deployed_cors_configuration() -> None:
    from aiohttp.test_utils import make_mocked_request

    from lukewarm.localstack.cors import Cors

    deployed = deploy({"corsOrigins": ["https://example.com"]}).one(HTTP_API)["corsConfiguration"]
    preflight = make_mocked_request(
        "OPTIONS",
        "/caption",
        headers={"Origin": "https://example.com", "Access-Control-Request-Method": "POST"},
    )
    answer = Cors(("https://example.com",)).preflight(preflight).headers

    assert answer["Access-Control-Allow-Methods"].split(",") == deployed["allowMethods"]
    assert answer["Access-Control-Allow-Headers"].split(",") == deployed["allowHeaders"]
    assert int(answer["Access-Control-Max-Age"]) == deployed["maxAge"]


def test_only_this_api_may_invoke_only_the_live_alias() -> None:
    deployment = deploy()
    permission = deployment.one(PERMISSION)

    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["function"] == deployment.outputs["function_name"]
    assert permission["qualifier"] == "live"
    assert permission["sourceArn"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/*/*"


def test_outputs_are_the_api_urls() -> None:
    outputs = deploy().outputs
    endpoint = f"https://{API_ID}.execute-api.{REGION}.amazonaws.com"

    assert outputs["url"] == f"{endpoint}/"
    assert outputs["caption_url"] == f"{endpoint}/caption"
