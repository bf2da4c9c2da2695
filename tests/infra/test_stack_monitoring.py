"""infra/monitoring.py through the whole program: the dashboard, the alarms and the topic
each `lukewarm:monitoring` mode creates, and what each alarm does when data is missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from infra import telemetry
from infra.mocks import (
    DASHBOARD,
    LOG_GROUP,
    METRIC_ALARM,
    REGION,
    TOPIC,
    TOPIC_SUBSCRIPTION,
    Deployment,
    deploy,
)
from infra.settings import WarmSchedule, load_settings
from lukewarm.localstack.logs import function_group, warmer_group
from tests.infra.dashboard_schema import DASHBOARD_BODY, metric_entry_problems

DEFAULT_ALARMS = {
    "api-5xx",
    "function-errors",
    "throttles",
    "duration-p99",
    "cold-start-rate",
    "warm-reach",
    "warmer-errors",
    "warmer-stopped",
}


def body(deployment: Deployment) -> dict[str, Any]:
    return json.loads(deployment.one(DASHBOARD)["dashboardBody"])


def alarms(deployment: Deployment) -> dict[str, dict[str, Any]]:
    return {
        resource.name.removeprefix("monitoring-"): resource.inputs
        for resource in deployment.of_type(METRIC_ALARM)
    }


def assert_documented_structure(document: dict[str, Any]) -> None:
    jsonschema.validate(document, DASHBOARD_BODY)
    cells: set[tuple[int, int]] = set()
    for widget in document["widgets"]:
        assert widget["x"] + widget["width"] <= 24, widget
        area = {
            (widget["x"] + dx, widget["y"] + dy)
            for dx in range(widget["width"])
            for dy in range(widget["height"])
        }
        assert not area & cells, f"{widget['properties'].get('title')} overlaps another widget"
        cells |= area
        for entry in widget["properties"].get("metrics", []):
            assert metric_entry_problems(entry) == [], entry


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"monitoring": "alarms"},
        {"monitoring": "alarms", "provisionedConcurrency": 2, "reservedConcurrency": 4},
        {"monitoring": "alarms", "warmSchedules": []},
        {"monitoring": "alarms", "snapStart": True},
    ],
    ids=["dashboard", "alarms", "provisioned", "no-warming", "snapstart"],
)
def test_every_widget_follows_the_documented_dashboard_body(config: dict[str, Any]) -> None:
    assert_documented_structure(body(deploy(config)))


def test_the_schema_refuses_what_cloudwatch_refuses() -> None:
    # The checks must be able to fail: each of these breaks one documented rule.
    good = body(deploy())
    broken = [
        {**good, "widgets": [{**good["widgets"][1], "width": 25}]},
        {**good, "widgets": [{**good["widgets"][1], "type": "graph"}]},
        {
            **good,
            "widgets": [
                {
                    **good["widgets"][1],
                    "properties": {**good["widgets"][1]["properties"], "stat": "p"},
                }
            ],
        },
        {
            **good,
            "widgets": [
                {**good["widgets"][1], "properties": {"metrics": [["AWS/Lambda", "Errors"]]}}
            ],
        },
    ]
    for document in broken:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, DASHBOARD_BODY)
    assert metric_entry_problems(["AWS/Lambda", "Errors", "FunctionName"]) != []
    assert metric_entry_problems(["AWS/Lambda", "Errors", {"colour": "#000000"}]) != []


def test_off_creates_nothing_to_watch() -> None:
    deployment = deploy({"monitoring": "off"})
    assert deployment.of_type(DASHBOARD) == []
    assert deployment.of_type(METRIC_ALARM) == []
    assert deployment.outputs["dashboard_url"] is None
    assert deployment.outputs["alarm_topic_arn"] is None


def test_the_default_is_a_dashboard_without_alarms() -> None:
    deployment = deploy()
    dashboard = deployment.one(DASHBOARD)
    assert dashboard["dashboardName"] == "lukewarm-test"
    assert deployment.of_type(METRIC_ALARM) == []
    assert deployment.of_type(TOPIC) == []
    titles = [widget["properties"].get("title", "") for widget in body(deployment)["widgets"]]
    assert titles[1:] == [
        "Requests and captions",
        "Cold-start rate (%) and warm runs",
        "Init and restore duration, ms (Lambda's REPORT lines)",
        "Warm reach: instances reached / asked for, per warm run",
        "Latency, ms",
        "4xx and 5xx",
        "Throttles",
        "Concurrent executions",
        "Estimated cost per 1,000 captions, USD (compute, requests, API; no init, no free tier)",
    ]


def test_the_dashboard_names_this_stacks_function_and_api() -> None:
    deployment = deploy()
    function = deployment.outputs["function_name"]
    widgets = {widget["properties"].get("title"): widget for widget in body(deployment)["widgets"]}
    latency = widgets["Latency, ms"]["properties"]
    assert latency["metrics"][0][:4] == ["AWS/Lambda", "Duration", "FunctionName", function]
    assert latency["metrics"][2][:4] == ["AWS/ApiGateway", "Latency", "ApiId", "a1b2c3d4e5"]
    assert latency["annotations"]["horizontal"] == [{"value": 30_000, "label": "function timeout"}]
    assert latency["region"] == REGION
    log = widgets["Init and restore duration, ms (Lambda's REPORT lines)"]["properties"]
    assert log["query"].startswith("SOURCE '/lukewarm/test/service' |")
    assert "record.metrics.initDurationMs" in log["query"]
    reach = widgets["Warm reach: instances reached / asked for, per warm run"]["properties"]
    assert reach["metrics"][0] == [
        "lukewarm",
        "WarmTargets",
        "function",
        f"{function}:live",
        {"label": "asked for"},
    ]


def test_the_cost_widget_prices_the_stacks_memory_in_its_region() -> None:
    widgets = body(deploy({"memorySize": 2048, "architecture": "arm64"}))["widgets"]
    cost = next(w for w in widgets if w["properties"].get("title", "").startswith("Estimated"))
    expression = cost["properties"]["metrics"][0][0]["expression"]
    # eu-central-1 arm64 (lukewarm/prices.json): 1.33334e-05 USD per GB-s x 2 GB, per ms;
    # $0.20 per million requests; HTTP API $1.20 per million.
    assert "duration * 2.66668e-08 + invocations * 2e-07 + api * 1.2e-06" in expression


def test_concurrency_caps_and_spillover_are_shown_only_when_configured() -> None:
    plain = body(deploy())["widgets"]
    capped = body(deploy({"reservedConcurrency": 4, "provisionedConcurrency": 2}))["widgets"]

    def widget(widgets: list[dict[str, Any]], title: str) -> dict[str, Any] | None:
        return next((w for w in widgets if w["properties"].get("title") == title), None)

    concurrency = widget(capped, "Concurrent executions")
    assert concurrency is not None
    assert concurrency["properties"]["annotations"]["horizontal"] == [
        {"value": 4, "label": "reserved concurrency (cap)"},
        {"value": 2, "label": "provisioned"},
    ]
    plain_concurrency = widget(plain, "Concurrent executions")
    assert plain_concurrency is not None
    assert "annotations" not in plain_concurrency["properties"]
    assert widget(plain, "Provisioned concurrency spillover") is None
    assert widget(capped, "Provisioned concurrency spillover") is not None


def test_alarms_mode_creates_each_alarm_family_on_one_topic() -> None:
    deployment = deploy({"monitoring": "alarms"})
    created = alarms(deployment)
    assert set(created) == DEFAULT_ALARMS
    topic_arn = deployment.outputs["alarm_topic_arn"]
    assert topic_arn.startswith("arn:aws:sns:")
    for name, alarm in created.items():
        assert alarm["alarmActions"] == [topic_arn], name
        assert alarm["okActions"] == [topic_arn], name
        assert alarm["alarmDescription"], name
    assert deployment.of_type(TOPIC_SUBSCRIPTION) == []
    status = body(deployment)["widgets"][-1]
    assert status["type"] == "alarm"
    assert len(status["properties"]["alarms"]) == len(DEFAULT_ALARMS)
    assert len(
        telemetry.alarm_plan(
            monitoring="alarms",
            warm_schedules=load_settings().warm_schedules,
            provisioned_concurrency=0,
        ).families
    ) == len(DEFAULT_ALARMS)


def test_each_alarm_treats_missing_data_on_purpose() -> None:
    created = alarms(deploy({"monitoring": "alarms"}))
    missing = {name: alarm["treatMissingData"] for name, alarm in created.items()}
    # Only a warmer that stopped publishes nothing when it fails; for every other alarm,
    # no data means no traffic or no warm run, and the stopped-warmer alarm covers that.
    assert missing == {name: "notBreaching" for name in DEFAULT_ALARMS} | {
        "warmer-stopped": "breaching"
    }


def test_a_warmer_that_stopped_running_alarms() -> None:
    stopped = alarms(deploy({"monitoring": "alarms"}))["warmer-stopped"]
    # rate(5 minutes): fewer than one warm run in ten minutes, no data counted as breaching.
    assert stopped["namespace"] == "lukewarm"
    assert stopped["metricName"] == "WarmTargets"
    assert stopped["statistic"] == "SampleCount"
    assert stopped["period"] == 600
    assert stopped["threshold"] == 1
    assert stopped["comparisonOperator"] == "LessThanThreshold"
    assert stopped["evaluationPeriods"] == 1


def test_the_cold_start_alarm_uses_the_configured_percentage_and_leaves_warm_ups_out() -> None:
    alarm = alarms(deploy({"monitoring": "alarms", "coldStartAlarm": 22.5}))["cold-start-rate"]
    assert alarm["threshold"] == 22.5
    assert alarm["comparisonOperator"] == "GreaterThanThreshold"
    queries = {query["id"]: query for query in alarm["metricQueries"]}
    rate = queries["rate"]
    assert rate["returnData"] is True
    assert "- FILL(warm_ups, 0)" in rate["expression"]
    assert "- FILL(warm_cold, 0)" in rate["expression"]
    assert "FILL(warm_runs, 0) > 0" in rate["expression"]
    assert queries["cold"]["metric"]["metricName"] == "ColdStart"
    assert queries["restores"]["metric"]["metricName"] == "Restores"
    assert {q["metric"]["period"] for q in queries.values() if "metric" in q} == {3600}


def test_warm_reach_alarms_after_consecutive_short_runs() -> None:
    alarm = alarms(deploy({"monitoring": "alarms"}))["warm-reach"]
    assert alarm["evaluationPeriods"] == alarm["datapointsToAlarm"] == 3
    assert alarm["threshold"] == 0
    assert alarm["comparisonOperator"] == "GreaterThanThreshold"
    expression = next(q for q in alarm["metricQueries"] if q.get("returnData"))["expression"]
    assert expression == "FILL(targets, 0) - FILL(reached, 0)"


def test_duration_alarm_sits_below_the_timeout() -> None:
    alarm = alarms(deploy({"monitoring": "alarms", "timeout": 20}))["duration-p99"]
    assert alarm["extendedStatistic"] == "p99"
    assert alarm["threshold"] == 16_000


def test_without_warming_there_is_no_warmer_alarm() -> None:
    created = alarms(deploy({"monitoring": "alarms", "warmSchedules": []}))
    assert set(created) == {"api-5xx", "function-errors", "throttles", "duration-p99"}


def test_provisioned_concurrency_adds_the_spillover_alarm() -> None:
    created = alarms(
        deploy({"monitoring": "alarms", "provisionedConcurrency": 1, "warmSchedules": []})
    )
    spillover = created["provisioned-spillover"]
    assert spillover["metricName"] == "ProvisionedConcurrencySpilloverInvocations"
    assert spillover["dimensions"]["Resource"].endswith(":live")


def test_alarm_email_subscribes_the_address() -> None:
    deployment = deploy({"monitoring": "alarms", "alarmEmail": "ops@example.com"})
    subscription = deployment.one(TOPIC_SUBSCRIPTION)
    assert subscription["protocol"] == "email"
    assert subscription["endpoint"] == "ops@example.com"
    assert subscription["topic"] == deployment.outputs["alarm_topic_arn"]


def test_office_hours_warming_gets_no_stopped_alarm_it_could_not_keep() -> None:
    # Weekday office hours leave a weekend without runs: longer than an alarm can wait.
    windows = [{"schedule": "cron(*/5 8-17 ? * MON-FRI *)", "concurrency": 1}]
    created = alarms(deploy({"monitoring": "alarms", "warmSchedules": windows}))
    assert "warmer-stopped" not in created
    assert {"cold-start-rate", "warm-reach", "warmer-errors"} <= set(created)


def test_the_warm_cadence_interval_and_longest_gap() -> None:
    monday = datetime(2026, 6, 1, tzinfo=UTC)
    assert telemetry.warm_cadence([WarmSchedule("rate(5 minutes)")], monday) == (
        telemetry.WarmCadence(300, 300)
    )
    both = [WarmSchedule("rate(1 hour)"), WarmSchedule("cron(30 * * * ? *)")]
    assert telemetry.warm_cadence(both, monday) == telemetry.WarmCadence(1800, 1800)
    office = telemetry.warm_cadence([WarmSchedule("cron(*/5 8-17 ? * MON-FRI *)")], monday)
    assert office is not None and office.interval_s == 300
    assert office.longest_gap_s == (62 * 3600 + 5 * 60)  # Friday 17:55 to Monday 08:00
    assert telemetry.warm_cadence([WarmSchedule("at(2026-06-02T10:00:00)")], monday) is None


@pytest.mark.parametrize(
    "windows",
    [
        [{"schedule": "rate(5 minutes)"}],
        [{"schedule": "cron(*/5 8-17 ? * MON-FRI *)"}],
        [{"schedule": "rate(12 hours)"}],
        [{"schedule": "rate(1 day)"}],
    ],
    ids=["rate-5m", "office-hours", "rate-12h", "rate-1d"],
)
def test_no_alarm_looks_back_further_than_cloudwatch_allows(windows: list[dict[str, str]]) -> None:
    created = alarms(deploy({"monitoring": "alarms", "warmSchedules": windows}))
    for name, alarm in created.items():
        periods = [alarm.get("period")] + [
            query["metric"]["period"]
            for query in alarm.get("metricQueries", [])
            if "metric" in query
        ]
        longest = max(period for period in periods if period)
        assert longest * alarm["evaluationPeriods"] <= 86_400, name


def test_office_hours_warm_alarms_judge_each_run_not_the_weekend() -> None:
    windows = [{"schedule": "cron(*/5 8-17 ? * MON-FRI *)"}]
    created = alarms(deploy({"monitoring": "alarms", "warmSchedules": windows}))
    assert created["warmer-errors"]["period"] == 300
    reach = {q["id"]: q for q in created["warm-reach"]["metricQueries"]}
    assert reach["targets"]["metric"]["period"] == 300


@pytest.mark.parametrize(
    "config",
    [
        {"monitoring": "alarms"},
        {"monitoring": "alarms", "provisionedConcurrency": 1, "warmSchedules": []},
    ],
)
def test_what_lukewarm_cost_bills_is_what_the_alarms_read(config: dict[str, Any]) -> None:
    # CloudWatch bills an alarm per metric it reads: the cost estimate's count must be the
    # component's own.
    created = alarms(deploy(config))
    for family, alarm in created.items():
        read = len([q for q in alarm.get("metricQueries", []) if "metric" in q]) or 1
        assert telemetry.ALARM_METRICS[family] == read, family
    settings = load_settings(config)
    plan = telemetry.alarm_plan(
        monitoring="alarms",
        warm_schedules=settings.warm_schedules,
        provisioned_concurrency=settings.provisioned_concurrency,
    )
    assert set(plan.families) == set(created)


def test_lukewarm_report_reads_the_log_groups_the_stack_creates() -> None:
    names = {resource.inputs["name"] for resource in deploy().of_type(LOG_GROUP)}
    assert {function_group("test"), warmer_group("test")} <= names
