"""Every list/describe the checks call is read to its last page, in every group.

Each client answers one item a page (:class:`OnePerPageDouble`): a check that stops at the first
page sees one subnet, one rule, one policy, and fails or (worse) passes on what it did not read.
"""

from __future__ import annotations

from test_verify_broken import failed
from verify_layout import OnePerPageDouble

from reconciler.verify.seams import CLIENT_NAMES


def test_every_check_passes_reading_one_item_a_page(layout, run_verify):
    base = layout.clients()
    paged = {name: OnePerPageDouble(getattr(base, name)) for name in CLIENT_NAMES}

    report = run_verify(**paged)

    assert {r.name: (r.detail, r.evidence) for r in report.failures} == {}
    assert report.passed
    assert all(paged[name].pages_served > 0 for name in ("ec2", "ecs", "elbv2", "logs", "iam")), {n: c.pages_served for n, c in paged.items()}


def test_a_processing_forward_on_the_second_page_of_rules(layout, run_verify, processing_behind_the_listener):
    rule, _, _ = processing_behind_the_listener(priority=40000)

    report = run_verify(groups=["isolation"], elbv2=OnePerPageDouble(layout.client("elbv2")))

    check = failed(report, "isolation.processing-unrouted")
    assert [f["on"] for f in check.evidence["forwardsToProcessing"]] == [rule]


def test_a_second_page_of_role_policies_is_read(layout, run_verify, undo):
    iam = layout.client("iam")
    for name in ("a-harmless", "z-too-wide"):
        statement = {"Effect": "Allow", "Action": "secretsmanager:*" if name == "z-too-wide" else "s3:ListBucket", "Resource": "*"}
        iam.put_role_policy(RoleName="role-frontend-task-dev", PolicyName=name, PolicyDocument=__import__("json").dumps({"Version": "2012-10-17", "Statement": [statement]}))
        undo(lambda name=name: iam.delete_role_policy(RoleName="role-frontend-task-dev", PolicyName=name))

    report = run_verify(groups=["secrets"], iam=OnePerPageDouble(iam))

    arn = layout.outputs["secretArns"]["db-credentials"]
    check = failed(report, f"secrets.{arn.rsplit(':', 1)[-1]}.readers")
    assert check.evidence["unexpected"]["frontend:task"]["allowedBy"][0]["policy"] == "inline:z-too-wide"


class EmptyFirstPageDoubleLogs:
    """The logs client, answering each event search first with an empty page and a token.

    Why a double: CloudWatch Logs searches a group a slice at a time and may answer a page with no
    events and a ``nextToken`` while events lie further on; moto answers in one page.
    """

    def __init__(self, logs):
        self._logs = logs
        self.searches = 0

    def __getattr__(self, name):
        return getattr(self._logs, name)

    def filter_log_events(self, **kwargs):
        self.searches += 1
        if kwargs.pop("nextToken", None) != "further-on":
            return {"events": [], "searchedLogStreams": [], "nextToken": "further-on"}
        return self._logs.filter_log_events(**kwargs)


def test_recent_events_after_an_empty_page_of_the_search(layout, run_verify):
    logs = EmptyFirstPageDoubleLogs(layout.client("logs"))

    report = run_verify(groups=["logs"], logs=logs)

    assert report.failures == [] and report.passed
    assert logs.searches == 6  # two pages for each of the three services' groups
