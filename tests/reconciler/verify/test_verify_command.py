"""``ecs-gitops verify``: outputs from the engine or a file, desired state from the applied commit, exit 0/1, table or JSON."""

from __future__ import annotations

import io
import json

import pytest

from reconciler import cli
from reconciler.settings import ReconcilerSettings, RepositorySettings
from reconciler.verify import wiring
from reconciler.wiring import build
from verify_layout import AlbHttpDouble


@pytest.fixture
def verify_cli(layout, git_repo, tmp_path, monkeypatch, make_engine, fake_time):
    """main() with components over the temp repo, file stores, the engine double and the moto layout."""
    from reconciler.settings import EnvironmentSettings

    settings = ReconcilerSettings(
        repository=RepositorySettings(url=str(git_repo.path), branch="main"),
        environments={"dev": EnvironmentSettings(stack="dev", suffix="dev")},
        work_dir=str(tmp_path / "work"),
        verify={"targetHealthTimeoutSeconds": 30, "pollSeconds": 10},
    )
    engine = make_engine()
    engine.output_overrides = dict(layout.outputs)
    components = build(settings, tmp_path / "state", boto3_session=layout.session, engine=engine,
                       monotonic=fake_time.monotonic, sleep=fake_time.sleep)
    monkeypatch.setattr(wiring, "clients_for", lambda session, region: layout.clients())
    monkeypatch.setattr(wiring, "http_probe", lambda: AlbHttpDouble(layout.client("elbv2"), layout.outputs))

    def applied(commit: str | None) -> None:
        current = components.states.get("dev")
        components.states.put(current, current.model_copy(update={"last_applied_commit": commit}))

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["verify", "--environment", "dev", *argv], out, err, components=components)
        return code, out.getvalue(), err.getvalue()

    run.applied = applied  # type: ignore[attr-defined]
    run.engine = engine  # type: ignore[attr-defined]
    run.repo = git_repo  # type: ignore[attr-defined]
    return run


def test_all_pass_exit_0_with_a_table(verify_cli):
    verify_cli.applied(verify_cli.repo.head)
    code, out, err = verify_cli()
    assert (code, err) == (0, "")
    assert out.startswith(f"verify dev at {verify_cli.repo.head[:12]}: dev: all ")
    for group in ("network", "services", "traffic", "isolation", "logs", "secrets", "names"):
        assert f"\n{group}\n" in out
    assert "  PASS    traffic.frontend.weights" in out
    assert "outputs" in verify_cli.engine.operations


def test_a_failure_exits_1_with_its_evidence_in_json(verify_cli, layout, undo):
    logs = layout.client("logs")
    logs.put_retention_policy(logGroupName="/ecs-gitops/dev/api-gateway", retentionInDays=7)
    undo(lambda: logs.put_retention_policy(logGroupName="/ecs-gitops/dev/api-gateway", retentionInDays=30))
    verify_cli.applied(verify_cli.repo.head)

    code, out, err = verify_cli("--output", "json")

    assert code == 1
    document = json.loads(out)
    assert document["passed"] is False
    assert document["appliedCommit"] == verify_cli.repo.head
    failures = [r for r in document["results"] if r["status"] == "fail"]
    assert [f["name"] for f in failures] == ["logs.api-gateway.retention"]
    assert failures[0]["evidence"]["retentionInDays"] == 7


def test_outputs_from_a_file(verify_cli, layout, tmp_path):
    """As `pulumi stack output --json` writes them; the engine is not asked."""
    verify_cli.applied(verify_cli.repo.head)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(layout.outputs))
    code, out, _ = verify_cli("--outputs", str(path), "--output", "json")
    assert code == 0, out
    assert "outputs" not in verify_cli.engine.operations


def test_the_desired_state_is_the_applied_commits_not_the_branch_heads(verify_cli):
    """git moved on (a new frontend image not yet applied): verify checks what was applied."""
    applied = verify_cli.repo.head
    verify_cli.repo.replace("dev", 'tag: "1.4.2"', 'tag: "1.5.0"')
    verify_cli.applied(applied)
    code, out, _ = verify_cli()
    assert code == 0, out


def test_a_stack_never_applied_is_refused_with_what_to_do(verify_cli):
    code, out, err = verify_cli()
    assert code == 1
    assert "records no applied commit" in err and "ecs-gitops reconcile --environment dev" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, message", [("{not json", "not JSON"), ("[1]", "expected a JSON object")])
def test_a_bad_outputs_file_is_a_usage_error(verify_cli, tmp_path, text, message):
    verify_cli.applied(verify_cli.repo.head)
    path = tmp_path / "outputs.json"
    path.write_text(text)
    code, _, err = verify_cli("--outputs", str(path))
    assert code != 0 and message in err and "Traceback" not in err


def test_the_json_counts_survive_the_output_scrubber(verify_cli):
    verify_cli.applied(verify_cli.repo.head)
    _, out, _ = verify_cli("--output", "json")
    counts = json.loads(out)["counts"]
    assert counts["failed"] == 0 and counts["passed"] > 40
