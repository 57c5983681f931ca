"""verify on the account the program's plan describes: every check passes."""

from __future__ import annotations


def test_every_check_passes_on_the_rendered_layout(run_verify, fake_time):
    report = run_verify()
    failures = {r.name: (r.detail, r.evidence) for r in report.failures}
    assert failures == {}
    assert report.passed
    groups = {r.group for r in report.results if r.status == "pass"}
    assert groups == {"network", "services", "traffic", "isolation", "logs", "secrets", "names"}
    assert fake_time.sleeps == []  # everything healthy at once: nothing waited
