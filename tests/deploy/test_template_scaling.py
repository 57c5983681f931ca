"""template.yaml: the converge workers scale on the job queue's depth; each task runs N converge loops."""

from __future__ import annotations

from reconciler.settings import MAX_CONVERGE_LOOPS, WorkerSettings


def _of_type(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _queue_metrics(alarm: dict) -> dict[str, dict]:
    """The alarm's SQS metrics by name, and what they measure."""
    found = {}
    for query in alarm["Properties"]["Metrics"]:
        stat = query.get("MetricStat")
        if stat and stat["Metric"]["Namespace"] == "AWS/SQS":
            found[stat["Metric"]["MetricName"]] = stat["Metric"]["Dimensions"]
    return found


def test_the_worker_service_is_a_scalable_target_from_one_to_the_parameter(template):
    parameters = template["Parameters"]
    assert parameters["MaxConvergeWorkers"]["Type"] == "Number" and parameters["MaxConvergeWorkers"]["Default"] == 4
    [(name, target)] = _of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget").items()
    props = target["Properties"]
    assert props["MinCapacity"] == 1 and props["MaxCapacity"] == {"Ref": "MaxConvergeWorkers"}
    assert props["ServiceNamespace"] == "ecs" and props["ScalableDimension"] == "ecs:service:DesiredCount"
    assert props["ResourceId"] == {"Fn::Sub": "service/${WorkerCluster}/${WorkerService.Name}"}
    # The scaling owns the task count: a stack update must not reset it to a fixed DesiredCount.
    assert "DesiredCount" not in template["Resources"]["WorkerService"]["Properties"]
    for policy in _of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values():
        assert policy["Properties"]["ScalingTargetId"] == {"Ref": name}


def test_scale_out_follows_the_backlog_per_task_and_scale_in_waits_for_an_idle_queue(template):
    policies = _of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    by_policy = {}
    for alarm in alarms.values():
        # Other alarms notify the topic; the scaling alarms are those whose action is a scaling policy.
        for action in alarm["Properties"].get("AlarmActions", []):
            if action["Ref"] in policies:
                by_policy[action["Ref"]] = alarm
    assert set(by_policy) == set(policies), "every scaling policy is triggered by an alarm"
    out = next(p for p in policies.values() if p["Properties"]["StepScalingPolicyConfiguration"]["AdjustmentType"] == "ChangeInCapacity")
    into = next(p for p in policies.values() if p["Properties"]["StepScalingPolicyConfiguration"]["AdjustmentType"] == "ExactCapacity")
    out_name = next(n for n, p in policies.items() if p is out)
    in_name = next(n for n, p in policies.items() if p is into)

    for alarm in (by_policy[out_name], by_policy[in_name]):
        # Depth = waiting + in flight (a message in flight is a job some loop is converging).
        metrics = _queue_metrics(alarm)
        assert set(metrics) == {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"}
        for dimensions in metrics.values():
            assert dimensions == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["JobQueue", "QueueName"]}}]
        [expression] = [q for q in alarm["Properties"]["Metrics"] if q.get("ReturnData", True) and "Expression" in q]
        ids = {q["Id"] for q in alarm["Properties"]["Metrics"] if "MetricStat" in q}
        assert all(i in expression["Expression"] for i in ids & {"visible", "inflight"})

    high = by_policy[out_name]["Properties"]
    # Backlog per running task above the loops one task runs: more tasks.
    assert high["Threshold"] == {"Ref": "ConvergeLoopsPerTask"} and high["ComparisonOperator"] == "GreaterThanThreshold"
    tasks = [q for q in high["Metrics"] if "MetricStat" in q and q["MetricStat"]["Metric"]["Namespace"] == "ECS/ContainerInsights"]
    assert tasks and tasks[0]["MetricStat"]["Metric"]["MetricName"] == "RunningTaskCount"
    steps = out["Properties"]["StepScalingPolicyConfiguration"]["StepAdjustments"]
    assert all(step["ScalingAdjustment"] > 0 for step in steps)

    idle = by_policy[in_name]["Properties"]
    # Back to one task only when nothing waits and nothing is in flight: scale-in never stops a converge.
    assert idle["Threshold"] == 0 and idle["ComparisonOperator"] == "LessThanOrEqualToThreshold"
    assert idle["EvaluationPeriods"] * idle["Metrics"][0]["MetricStat"]["Period"] >= 600
    [step] = into["Properties"]["StepScalingPolicyConfiguration"]["StepAdjustments"]
    assert step["ScalingAdjustment"] == 1 and step["MetricIntervalUpperBound"] == 0


def test_the_container_runs_the_parameters_loops_and_stops_within_its_grace(template):
    parameters = template["Parameters"]
    loops = parameters["ConvergeLoopsPerTask"]
    assert loops["Default"] == WorkerSettings().concurrency and loops["MaxValue"] <= MAX_CONVERGE_LOOPS and loops["MinValue"] == 1
    [container] = template["Resources"]["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"]
    command = container["Command"]
    assert command[:3] == ["python", "-m", "reconciler.worker"]
    assert command[command.index("--concurrency") + 1] == {"Ref": "ConvergeLoopsPerTask"}
    # SIGTERM (deployment, scale-in): the loops finish their jobs for stopGraceSeconds, before ECS kills at StopTimeout.
    assert WorkerSettings().stop_grace_seconds < container["StopTimeout"] <= 120
