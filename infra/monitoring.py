"""Watching the stack run: a CloudWatch dashboard, alarms on what goes wrong, an SNS topic.

Modelled on cdk-monitoring-constructs' Lambda facade: one component for the whole stack,
each alarm family opt-in (`AlarmThresholds`, None turns one off) with its default and why
written beside it. Every metric it names is one that the function, the warmer or AWS
really publishes under that namespace, name and dimensions (`infra.telemetry`;
tests/infra/test_stack_monitoring.py checks it against a local run and AWS's metric
tables): an alarm on a metric nobody emits stays green forever.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_aws import cloudwatch, get_region_output, sns

from infra import telemetry
from infra.schedules import WarmSchedule

PERIOD_S = 300
"""The dashboard's and the request alarms' period: five minutes."""
COLD_START_PERIOD_S = 3600
"""Cold-start rates are judged per hour: a rate over a few requests is noise."""
MISSING_OK = "notBreaching"
MISSING_BAD = "breaching"


@dataclass
class AlarmThresholds:
    """The alarm families; each is on with the default shown, None turns it off."""

    api_5xx: int | None = 1
    """API Gateway 5xx answers in five minutes. Any is a real fault: the function answers
    500 only for its own bugs, and API Gateway 5xx for a failed or timed-out integration."""
    function_errors: int | None = 1
    """Lambda `Errors` in five minutes: crashes, timeouts and out-of-memory kills."""
    throttles: int | None = 1
    """Lambda `Throttles` in five minutes: requests refused at the concurrency cap."""
    duration_p99_percent: float | None = 80.0
    """p99 duration as a percentage of the timeout, in two of three five-minute periods:
    a function this close to its timeout is about to start failing requests."""
    cold_start_rate_percent: float | None = telemetry.DEFAULT_COLD_START_ALARM_PERCENT
    """Cold-start rate per hour (instance starts per request, warm-ups left out), in two of
    three hours while warm runs happen. Log-analysis tools warn above 15 %."""
    cold_start_min_requests: int = 10
    """Hours with fewer requests than this are not judged: one cold start in two requests
    is 50 %, and says nothing."""
    warm_reach_runs: int | None = telemetry.WARM_REACH_RUNS
    """Warm runs in a row that reached fewer instances than they asked for."""
    warmer_error_runs: int | None = telemetry.WARMER_ERROR_RUNS
    """Warm runs in a row with failed warm-up invokes (throttled, failed or timed out)."""
    warmer_stopped: bool = True
    """No warm run for twice the longest gap between scheduled runs. Missing data is
    breaching: a warmer that stopped publishes nothing at all."""
    provisioned_spillover: int | None = 1
    """Requests in five minutes that found every provisioned instance busy and started
    an on-demand one (cold) instead; only with provisioned concurrency."""


@dataclass
class MonitoringArgs:
    function_name: pulumi.Input[str]
    alias_name: str
    """The alias the API and the warmer invoke (`live`): the warmer's metrics name it."""
    api_id: pulumi.Input[str]
    function_log_group: pulumi.Input[str]
    """Where the function's platform lines (REPORT with Init Duration) are."""
    timeout_s: int
    memory_size: int
    architecture: str
    reserved_concurrency: int
    provisioned_concurrency: int
    warm_schedules: Sequence[WarmSchedule]
    alarms: AlarmThresholds | None = None
    """None: the dashboard only (`lukewarm:monitoring: dashboard`)."""
    alarm_email: str | None = None
    """An address subscribed to the alarm topic; AWS mails it a link that must be clicked."""
    prices: Mapping[str, Any] | None = None
    """`lukewarm/prices.json` (the cost widget prices each region from it)."""


@dataclass(frozen=True)
class DashboardView:
    """Everything the dashboard body is built from, resolved to plain values."""

    region: str
    function_name: str
    alias_name: str
    api_id: str
    function_log_group: str
    timeout_s: int
    memory_size: int
    reserved_concurrency: int
    provisioned_concurrency: int
    warm_schedules: tuple[str, ...]
    cold_start_alarm_percent: float | None
    prices: Mapping[str, float] | None
    """gb_second, request and api_request prices in USD, None if the region is not priced."""
    alarm_arns: tuple[str, ...] = ()


def _metric(
    namespace: str,
    name: str,
    dimensions: Mapping[str, str],
    **rendering: Any,
) -> list[Any]:
    """One entry of a metric widget's `metrics` array: namespace, name, dimension pairs,
    then the rendering options (AWS's documented format)."""
    entry: list[Any] = [namespace, name]
    for key, value in dimensions.items():
        entry += [key, value]
    return [*entry, rendering] if rendering else entry


def _expression(expression: str, label: str, **rendering: Any) -> list[Any]:
    return [{"expression": expression, "label": label, **rendering}]


def _widget(
    title: str,
    metrics: list[list[Any]],
    view: DashboardView,
    *,
    stat: str = "Sum",
    period: int = PERIOD_S,
    horizontal: Sequence[Mapping[str, Any]] = (),
    y_axis: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": title,
        "view": "timeSeries",
        "region": view.region,
        "stat": stat,
        "period": period,
        "metrics": metrics,
    }
    if horizontal:
        properties["annotations"] = {"horizontal": list(horizontal)}
    if y_axis:
        properties["yAxis"] = dict(y_axis)
    return {"type": "metric", "width": 12, "height": 6, "properties": properties}


def dashboard_body(view: DashboardView) -> dict[str, Any]:
    """The dashboard, in AWS's documented dashboard-body structure (widgets laid out in
    rows of two on the 24-column grid)."""
    function = {"FunctionName": view.function_name}
    api = {"ApiId": view.api_id}
    own = telemetry.function_dimensions(view.function_name)
    warmer = telemetry.warmer_dimensions(view.function_name, view.alias_name)
    hidden = {"visible": False}

    widgets: list[dict[str, Any]] = [
        {
            "type": "text",
            "width": 24,
            "height": 2,
            "properties": {
                "markdown": (
                    f"## lukewarm: {view.function_name}\n"
                    "A **cold start** waited for its instance's init (REPORT has Init "
                    "Duration); a **restore** waited for a SnapStart restore. The cold-start "
                    "rate is both per request, warm-ups left out. Warm windows: "
                    f"{', '.join(view.warm_schedules) or 'none (warming is off)'}."
                ),
            },
        },
        _widget(
            "Requests and captions",
            [
                _metric("AWS/ApiGateway", "Count", api, label="API requests"),
                _metric("AWS/Lambda", "Invocations", function, label="function invocations"),
                _metric(telemetry.NAMESPACE, "Captions", own, label="captions"),
                _metric(telemetry.NAMESPACE, "WarmUps", own, label="warm-up invocations"),
            ],
            view,
        ),
    ]

    starts = "FILL(cold, 0) + FILL(restores, 0) - FILL(warm_cold, 0) - FILL(warm_restores, 0)"
    requests = "FILL(invocations, 0) - FILL(warm_ups, 0)"
    rate_inputs = [
        _metric(telemetry.NAMESPACE, "ColdStart", own, id="cold", **hidden),
        _metric(telemetry.NAMESPACE, "Restores", own, id="restores", **hidden),
        _metric(telemetry.NAMESPACE, "WarmColdStarts", warmer, id="warm_cold", **hidden),
        _metric(telemetry.NAMESPACE, "WarmRestores", warmer, id="warm_restores", **hidden),
        _metric("AWS/Lambda", "Invocations", function, id="invocations", **hidden),
        _metric(telemetry.NAMESPACE, "WarmUps", own, id="warm_ups", **hidden),
    ]
    threshold = (
        [{"value": view.cold_start_alarm_percent, "label": "alarm", "color": "#d62728"}]
        if view.cold_start_alarm_percent is not None
        else []
    )
    widgets.append(
        _widget(
            "Cold-start rate (%) and warm runs",
            [
                _expression(
                    f"IF(({requests}) > 0, 100 * ({starts}) / ({requests}), 0)",
                    "cold-start rate %",
                    id="rate",
                ),
                *rate_inputs,
                # Warm runs on the right axis: where they are is where the warm windows are.
                _metric(
                    telemetry.NAMESPACE,
                    "WarmTargets",
                    warmer,
                    stat="SampleCount",
                    label="warm runs",
                    yAxis="right",
                ),
            ],
            view,
            horizontal=threshold,
            y_axis={"left": {"min": 0, "max": 100, "label": "%", "showUnits": False}},
        )
    )
    group = view.function_log_group.replace("'", "")
    widgets.append(
        {
            "type": "log",
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Init and restore duration, ms (Lambda's REPORT lines)",
                "region": view.region,
                "view": "timeSeries",
                "query": (
                    f"SOURCE '{group}' "
                    '| filter type = "platform.report" '
                    "and (ispresent(record.metrics.initDurationMs) "
                    "or ispresent(record.metrics.restoreDurationMs)) "
                    "| stats pct(record.metrics.initDurationMs, 50) as init_p50, "
                    "pct(record.metrics.initDurationMs, 90) as init_p90, "
                    "pct(record.metrics.initDurationMs, 99) as init_p99, "
                    "pct(record.metrics.restoreDurationMs, 50) as restore_p50 by bin(1h)"
                ),
            },
        }
    )
    widgets.append(
        _widget(
            "Warm reach: instances reached / asked for, per warm run",
            [
                _metric(telemetry.NAMESPACE, "WarmTargets", warmer, label="asked for"),
                _metric(telemetry.NAMESPACE, "WarmInstancesReached", warmer, label="reached"),
            ],
            view,
            stat="Average",
        )
    )
    timeout_ms = view.timeout_s * 1000
    widgets.append(
        _widget(
            "Latency, ms",
            [
                _metric("AWS/Lambda", "Duration", function, stat="p50", label="function p50"),
                _metric("AWS/Lambda", "Duration", function, stat="p99", label="function p99"),
                _metric("AWS/ApiGateway", "Latency", api, stat="p50", label="API p50"),
                _metric("AWS/ApiGateway", "Latency", api, stat="p99", label="API p99"),
            ],
            view,
            horizontal=[{"value": timeout_ms, "label": "function timeout"}],
        )
    )
    widgets.append(
        _widget(
            "4xx and 5xx",
            [
                _metric("AWS/ApiGateway", "4xx", api, label="API 4xx"),
                _metric("AWS/ApiGateway", "5xx", api, label="API 5xx"),
                _metric("AWS/Lambda", "Errors", function, label="function errors"),
                _metric(telemetry.NAMESPACE, "ClientErrors", own, label="refused (4xx)"),
                _metric(telemetry.NAMESPACE, "ServerErrors", own, label="server faults (500)"),
            ],
            view,
        )
    )
    widgets.append(
        _widget(
            "Throttles",
            [
                _metric("AWS/Lambda", "Throttles", function, label="function throttles"),
                _metric(telemetry.NAMESPACE, "WarmThrottles", warmer, label="warm-ups throttled"),
            ],
            view,
        )
    )
    caps = []
    if view.reserved_concurrency:
        caps.append({"value": view.reserved_concurrency, "label": "reserved concurrency (cap)"})
    if view.provisioned_concurrency:
        caps.append({"value": view.provisioned_concurrency, "label": "provisioned"})
    widgets.append(
        _widget(
            "Concurrent executions",
            [_metric("AWS/Lambda", "ConcurrentExecutions", function, label="concurrent")],
            view,
            stat="Maximum",
            horizontal=caps,
        )
    )
    if view.provisioned_concurrency:
        alias = {"FunctionName": view.function_name, "Resource": _resource(view)}
        widgets.append(
            _widget(
                "Provisioned concurrency spillover",
                [
                    _metric(
                        "AWS/Lambda",
                        "ProvisionedConcurrencySpilloverInvocations",
                        alias,
                        label="spilled to on-demand (cold)",
                    ),
                ],
                view,
            )
        )
    widgets.append(_cost_widget(view, function, api, own))
    if view.alarm_arns:
        widgets.append(
            {
                "type": "alarm",
                "width": 24,
                "height": 3,
                "properties": {"title": "Alarms", "alarms": list(view.alarm_arns)},
            }
        )
    return {"start": "-PT24H", "periodOverride": "inherit", "widgets": _laid_out(widgets)}


def _cost_widget(
    view: DashboardView,
    function: Mapping[str, str],
    api: Mapping[str, str],
    own: Mapping[str, str],
) -> dict[str, Any]:
    if view.prices is None:
        return {
            "type": "text",
            "width": 12,
            "height": 6,
            "properties": {
                "markdown": f"No prices for {view.region} in lukewarm/prices.json: "
                "no cost estimate on this dashboard."
            },
        }
    gb = view.memory_size / 1024
    per_gb_ms = view.prices["gb_second"] * gb / 1000
    usd = (
        f"duration * {per_gb_ms:.6g} + invocations * {view.prices['request']:.6g}"
        f" + api * {view.prices['api_request']:.6g}"
    )
    return _widget(
        "Estimated cost per 1,000 captions, USD (compute, requests, API; no init, no free tier)",
        [
            _expression(
                f"IF(FILL(captions, 0) > 0, 1000 * ({usd}) / captions, 0)",
                "USD per 1,000 captions",
                id="cost",
            ),
            _metric("AWS/Lambda", "Duration", function, id="duration", visible=False),
            _metric("AWS/Lambda", "Invocations", function, id="invocations", visible=False),
            _metric("AWS/ApiGateway", "Count", api, id="api", visible=False),
            _metric(telemetry.NAMESPACE, "Captions", own, id="captions", visible=False),
        ],
        view,
        period=COLD_START_PERIOD_S,
    )


def _laid_out(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Place widgets left to right, top to bottom, on the 24-column grid."""
    x = y = row_height = 0
    for widget in widgets:
        if x + widget["width"] > 24:
            x, y, row_height = 0, y + row_height, 0
        widget["x"], widget["y"] = x, y
        x += widget["width"]
        row_height = max(row_height, widget["height"])
    return widgets


def _resource(view: DashboardView) -> str:
    return f"{view.function_name}:{view.alias_name}"


def region_prices(
    prices: Mapping[str, Any] | None, region: str, architecture: str
) -> dict[str, float] | None:
    """The three prices the cost widget needs, from the cost estimator's price table."""
    if prices is None or region not in prices.get("regions", {}):
        return None
    table = prices["regions"][region]
    return {
        "gb_second": table["lambda"][architecture]["gb_second"],
        "request": table["lambda"][architecture]["requests_per_million"] / 1e6,
        "api_request": table["api_gateway"]["http_per_million"] / 1e6,
    }


def dashboard_url(region: str, name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards/dashboard/{name}"
    )


@dataclass
class _AlarmMaker:
    """Creates the alarms, all notifying one topic, and remembers them."""

    name: str
    topic_arn: pulumi.Output[str]
    parent: pulumi.Resource
    alarms: list[cloudwatch.MetricAlarm] = field(default_factory=list)

    def add(self, family: str, description: str, **arguments: Any) -> None:
        self.alarms.append(
            cloudwatch.MetricAlarm(
                f"{self.name}-{family}",
                alarm_description=description,
                alarm_actions=[self.topic_arn],
                ok_actions=[self.topic_arn],
                opts=pulumi.ResourceOptions(parent=self.parent),
                **arguments,
            )
        )


def _query(
    query_id: str,
    namespace: str,
    name: str,
    dimensions: Mapping[str, pulumi.Input[str]],
    period: int,
    stat: str = "Sum",
) -> cloudwatch.MetricAlarmMetricQueryArgs:
    return cloudwatch.MetricAlarmMetricQueryArgs(
        id=query_id,
        metric=cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=namespace,
            metric_name=name,
            dimensions=dict(dimensions),
            period=period,
            stat=stat,
        ),
        return_data=False,
    )


class Monitoring(pulumi.ComponentResource):
    """A dashboard of the stack and, with `alarms`, alarms that notify an SNS topic."""

    dashboard_url: pulumi.Output[str]
    topic_arn: pulumi.Output[str] | None
    alarm_names: list[pulumi.Output[str]]
    skipped_alarms: tuple[str, ...]
    """Alarm families these settings call for that CloudWatch cannot express, with why."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("lukewarm:index:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region = get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        thresholds = args.alarms or AlarmThresholds()
        plan = telemetry.alarm_plan(
            monitoring="alarms" if args.alarms is not None else "dashboard",
            warm_schedules=args.warm_schedules,
            provisioned_concurrency=args.provisioned_concurrency,
            warm_reach_runs=thresholds.warm_reach_runs or telemetry.WARM_REACH_RUNS,
            warmer_error_runs=thresholds.warmer_error_runs or telemetry.WARMER_ERROR_RUNS,
        )
        self.skipped_alarms = plan.skipped
        for reason in plan.skipped:
            pulumi.log.warn(f"no alarm {reason}", resource=self)

        self.topic_arn = None
        alarms: list[cloudwatch.MetricAlarm] = []
        if args.alarms is not None:
            # No KMS key: CloudWatch cannot publish to a topic encrypted with the AWS-managed
            # SNS key, and the alarms carry no secret.
            topic = sns.Topic(f"{name}-alarms", display_name="lukewarm alarms", opts=child)
            if args.alarm_email:
                sns.TopicSubscription(
                    f"{name}-alarm-email",
                    topic=topic.arn,
                    protocol="email",
                    endpoint=args.alarm_email,
                    opts=child,
                )
            self.topic_arn = topic.arn
            alarms = self._alarms(name, args, args.alarms, plan, topic.arn)

        dashboard_name = pulumi.Output.concat("lukewarm-", pulumi.get_stack())
        body = pulumi.Output.all(
            region,
            args.function_name,
            args.api_id,
            args.function_log_group,
            *[alarm.arn for alarm in alarms],
        ).apply(
            lambda values: json.dumps(
                dashboard_body(
                    DashboardView(
                        region=values[0],
                        function_name=values[1],
                        alias_name=args.alias_name,
                        api_id=values[2],
                        function_log_group=values[3],
                        timeout_s=args.timeout_s,
                        memory_size=args.memory_size,
                        reserved_concurrency=args.reserved_concurrency,
                        provisioned_concurrency=args.provisioned_concurrency,
                        warm_schedules=tuple(
                            f"{window.schedule} x{window.concurrency} ({window.timezone})"
                            for window in args.warm_schedules
                        ),
                        cold_start_alarm_percent=(
                            args.alarms.cold_start_rate_percent
                            if args.alarms is not None and "cold-start-rate" in plan.families
                            else None
                        ),
                        prices=region_prices(args.prices, values[0], args.architecture),
                        alarm_arns=tuple(values[4:]),
                    )
                )
            )
        )
        dashboard = cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=dashboard_name,
            dashboard_body=body,
            opts=child,
        )
        self.dashboard_url = pulumi.Output.all(region, dashboard.dashboard_name).apply(
            lambda values: dashboard_url(values[0], values[1])
        )
        self.alarm_names = [alarm.name for alarm in alarms]
        self.register_outputs({"dashboard_url": self.dashboard_url, "topic_arn": self.topic_arn})

    def _alarms(
        self,
        name: str,
        args: MonitoringArgs,
        thresholds: AlarmThresholds,
        plan: telemetry.AlarmPlan,
        topic_arn: pulumi.Output[str],
    ) -> list[cloudwatch.MetricAlarm]:
        families = set(plan.families)
        make = _AlarmMaker(name, topic_arn, self)
        function = {"FunctionName": args.function_name}
        api = {"ApiId": args.api_id}
        warmer = {"function": pulumi.Output.concat(args.function_name, ":", args.alias_name)}
        own = {"function_name": args.function_name, "service": telemetry.SERVICE}

        def simple(family: str, threshold: float | None, description: str, **metric: Any) -> None:
            if family not in families or threshold is None:
                return
            make.add(
                family,
                description,
                period=metric.pop("period", PERIOD_S),
                evaluation_periods=metric.pop("evaluation_periods", 1),
                datapoints_to_alarm=metric.pop("datapoints_to_alarm", 1),
                threshold=threshold,
                comparison_operator="GreaterThanOrEqualToThreshold",
                # No traffic means nothing failed.
                treat_missing_data=MISSING_OK,
                **metric,
            )

        simple(
            "api-5xx",
            thresholds.api_5xx,
            "API Gateway answered 5xx: the function failed, timed out, or answered 500.",
            namespace="AWS/ApiGateway",
            metric_name="5xx",
            dimensions=api,
            statistic="Sum",
        )
        simple(
            "function-errors",
            thresholds.function_errors,
            "The function raised, timed out or ran out of memory (Lambda Errors).",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions=function,
            statistic="Sum",
        )
        simple(
            "throttles",
            thresholds.throttles,
            "Lambda refused invocations at the concurrency cap (Throttles).",
            namespace="AWS/Lambda",
            metric_name="Throttles",
            dimensions=function,
            statistic="Sum",
        )
        if thresholds.duration_p99_percent is not None:
            simple(
                "duration-p99",
                args.timeout_s * 1000 * thresholds.duration_p99_percent / 100,
                f"p99 duration above {thresholds.duration_p99_percent:g} % of the "
                f"{args.timeout_s} s timeout in two of three five-minute periods.",
                namespace="AWS/Lambda",
                metric_name="Duration",
                dimensions=function,
                extended_statistic="p99",
                evaluation_periods=3,
                datapoints_to_alarm=2,
            )
        simple(
            "provisioned-spillover",
            thresholds.provisioned_spillover,
            "Requests found every provisioned instance busy and waited for a cold one.",
            namespace="AWS/Lambda",
            metric_name="ProvisionedConcurrencySpilloverInvocations",
            dimensions={
                "FunctionName": args.function_name,
                "Resource": pulumi.Output.concat(args.function_name, ":", args.alias_name),
            },
            statistic="Sum",
        )

        warm_period = plan.warm_period_s or PERIOD_S
        if "cold-start-rate" in families and thresholds.cold_start_rate_percent is not None:
            hour = COLD_START_PERIOD_S
            requests = "(FILL(invocations, 0) - FILL(warm_ups, 0))"
            starts = (
                "(FILL(cold, 0) + FILL(restores, 0) - FILL(warm_cold, 0) - FILL(warm_restores, 0))"
            )
            judged = f"{requests} >= {thresholds.cold_start_min_requests} && FILL(warm_runs, 0) > 0"
            make.add(
                "cold-start-rate",
                f"More than {thresholds.cold_start_rate_percent:g} % of requests waited for an "
                "instance to start (cold start or restore) in two of three hours with warm runs.",
                metric_queries=[
                    cloudwatch.MetricAlarmMetricQueryArgs(
                        id="rate",
                        expression=f"IF({judged}, 100 * {starts} / {requests}, 0)",
                        label="cold-start rate %",
                        return_data=True,
                    ),
                    _query("cold", telemetry.NAMESPACE, "ColdStart", own, hour),
                    _query("restores", telemetry.NAMESPACE, "Restores", own, hour),
                    _query("warm_ups", telemetry.NAMESPACE, "WarmUps", own, hour),
                    _query("warm_cold", telemetry.NAMESPACE, "WarmColdStarts", warmer, hour),
                    _query("warm_restores", telemetry.NAMESPACE, "WarmRestores", warmer, hour),
                    _query("invocations", "AWS/Lambda", "Invocations", function, hour),
                    _query(
                        "warm_runs", telemetry.NAMESPACE, "WarmTargets", warmer, hour, "SampleCount"
                    ),
                ],
                evaluation_periods=3,
                datapoints_to_alarm=2,
                threshold=thresholds.cold_start_rate_percent,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data=MISSING_OK,
            )
        if "warm-reach" in families and thresholds.warm_reach_runs is not None:
            runs = thresholds.warm_reach_runs
            make.add(
                "warm-reach",
                f"The warmer reached fewer instances than it asked for in {runs} runs in a row.",
                metric_queries=[
                    cloudwatch.MetricAlarmMetricQueryArgs(
                        id="shortfall",
                        expression="FILL(targets, 0) - FILL(reached, 0)",
                        label="instances asked for but not reached",
                        return_data=True,
                    ),
                    _query("targets", telemetry.NAMESPACE, "WarmTargets", warmer, warm_period),
                    _query(
                        "reached", telemetry.NAMESPACE, "WarmInstancesReached", warmer, warm_period
                    ),
                ],
                evaluation_periods=runs,
                datapoints_to_alarm=runs,
                threshold=0,
                comparison_operator="GreaterThanThreshold",
                # A period without a run is not a short one; `warmer-stopped` watches that.
                treat_missing_data=MISSING_OK,
            )
        if "warmer-errors" in families and thresholds.warmer_error_runs is not None:
            runs = thresholds.warmer_error_runs
            make.add(
                "warmer-errors",
                f"Warm-up invokes failed (throttled, errored, timed out) in {runs} runs in a row.",
                namespace=telemetry.NAMESPACE,
                metric_name="WarmErrors",
                dimensions=warmer,
                statistic="Sum",
                period=warm_period,
                evaluation_periods=runs,
                datapoints_to_alarm=runs,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data=MISSING_OK,
            )
        if "warmer-stopped" in families and thresholds.warmer_stopped and plan.stopped_period_s:
            make.add(
                "warmer-stopped",
                "No warm run for twice the longest gap between scheduled runs: the warmer or "
                "its schedules stopped.",
                namespace=telemetry.NAMESPACE,
                metric_name="WarmTargets",
                dimensions=warmer,
                statistic="SampleCount",
                period=plan.stopped_period_s,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                threshold=1,
                comparison_operator="LessThanThreshold",
                # A stopped warmer publishes nothing: no data is the failure itself.
                treat_missing_data=MISSING_BAD,
            )
        return make.alarms
