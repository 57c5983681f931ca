"""``plan`` tells a person what it rendered: which environment, suffix, class and commit, which traffic
state, the stack outputs, totals that match the JSON, and never a credential written in git."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from desired_state.loader import EXAMPLE_DIR
from reconciler.cli import EXIT_INVALID, EXIT_OK
from tests.reconciler.cli_run import run



def desired_state(tmp_path: Path, files: dict[str, dict]) -> Path:
    root = tmp_path / "desired-state"
    (root / "environments").mkdir(parents=True)
    for name, document in files.items():
        (root / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(document))
    return root


def example(environment: str) -> dict:
    return yaml.safe_load((EXAMPLE_DIR / "environments" / f"{environment}.yaml").read_text())


# --------------------------------------------------------------------------- the header


def test_the_header_shows_environment_suffix_class_and_commit(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "initial"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()

    code, out, err = run("plan", "--desired-state", str(root), "--environment", "prod")
    assert code == EXIT_OK, err
    assert out.splitlines()[0] == f"Plan for environment prod  suffix prod  class production  commit {head[:12]}"

    (root / "environments" / "prod.yaml").write_text((root / "environments" / "prod.yaml").read_text() + "\n# edited\n")
    _, out, _ = run("plan", "--desired-state", str(root), "--environment", "prod")
    assert out.splitlines()[0].endswith(f"commit {head[:12]} + uncommitted changes")
    _, out, _ = run("plan", "--desired-state", str(root), "--environment", "prod", "--output", "json")
    document = json.loads(out)
    assert (document["environment"], document["environmentSuffix"], document["environmentClass"]) == ("prod", "prod", "production")
    assert (document["commit"], document["uncommittedChanges"]) == (head, True)


def test_a_file_whose_suffix_differs_from_its_name_shows_both(tmp_path):
    """Without settings nothing ties sandbox.yaml to a suffix; the header says which one it renders."""
    root = desired_state(tmp_path, {"sandbox": example("dev")})
    code, out, err = run("plan", "--desired-state", str(root), "--environment", "sandbox")
    assert code == EXIT_OK, err
    assert out.splitlines()[0] == "Plan for environment sandbox  suffix dev  class non-production  commit none (not a git checkout)"


@pytest.mark.parametrize("command", ["plan", "validate"])
def test_two_files_claiming_one_suffix_are_refused_naming_both(tmp_path, command):
    root = desired_state(tmp_path, {"dev": example("dev"), "qa": example("dev")})
    code, out, err = run(command, "--desired-state", str(root), "--environment", "dev")
    assert code == EXIT_INVALID
    assert out == ""
    assert err.startswith("error: desired state refused")
    assert "environments/dev.yaml" in err and "environments/qa.yaml" in err and "environmentSuffix" in err
    assert "environmentSuffix: 'dev'" in err


# --------------------------------------------------------------------------- outputs, traffic, totals


def test_the_table_shows_the_stack_outputs():
    code, out, _ = run("plan")
    assert code == EXIT_OK
    outputs = out.split("Stack outputs", 1)[1]
    assert re.search(r"^  clusterName +ecs-cluster-dev$", outputs, re.MULTILINE)
    assert re.search(r"^  targetGroupArns\.frontend\.green +arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg-frontend-green-dev/", outputs, re.MULTILINE)
    assert re.search(r"^  liveColours\.frontend +blue$", outputs, re.MULTILINE)


def test_the_table_says_when_a_traffic_state_other_than_the_default_is_in_force(tmp_path):
    _, out, _ = run("plan")
    assert "Traffic: default (every ALB-facing service blue-live at 100 %" in out
    assert "Traffic state in force" not in out

    traffic = tmp_path / "traffic.json"
    traffic.write_text(json.dumps({"services": {"frontend": {"liveColour": "green"}, "api-gateway": {"weights": {"blue": 90, "green": 10}}}}))
    _, out, _ = run("plan", "--traffic-state", str(traffic))
    line = next(line for line in out.splitlines() if line.startswith("Traffic"))
    assert line == (
        f"Traffic state in force, not the default (from {traffic}): "
        "frontend: green live, blue 0 % / green 100 %; api-gateway: blue live, blue 90 % / green 10 %"
    )
    _, out, _ = run("plan", "--traffic-state", str(traffic), "--output", "json")
    assert json.loads(out)["trafficState"]["default"] is False


def test_a_traffic_file_that_restates_the_default_is_the_default(tmp_path):
    traffic = tmp_path / "traffic.json"
    traffic.write_text(json.dumps({"services": {"frontend": {"liveColour": "blue", "weights": {"blue": 100, "green": 0}}}}))
    _, out, _ = run("plan", "--traffic-state", str(traffic))
    assert "Traffic: default" in out


def test_the_table_total_matches_the_json_resource_count():
    _, table, _ = run("plan", "--environment", "prod")
    _, raw, _ = run("plan", "--environment", "prod", "--output", "json")
    document = json.loads(raw)
    resources = document["resources"]
    cloud = int(re.search(r"^ +(\d+)  total cloud resources$", table, re.MULTILINE).group(1))
    excluded = re.search(r"not counted: the (\d+) component resources that group them; --output json lists all (\d+)\)", table)
    components = sum(1 for r in resources if r["type"].startswith("ecs-gitops:"))
    assert cloud + int(excluded.group(1)) == int(excluded.group(2)) == len(resources)
    assert int(excluded.group(1)) == components
    assert document["resourceCount"] == {"total": len(resources), "cloud": cloud, "components": components}
    per_type = sum(int(n) for n in re.findall(r"^ +(\d+)  (?!total)\S+$", table.split("Resources by type:")[1], re.MULTILINE))
    assert per_type == cloud


# --------------------------------------------------------------------------- credentials written in git


def _with_environment(tmp_path: Path, values: dict[str, str]) -> Path:
    document = example("dev")
    document["services"]["api-gateway"].setdefault("environment", {}).update(values)
    return desired_state(tmp_path, {"dev": document})


@pytest.mark.parametrize("output", ["json", "table"])
def test_aws_keys_and_url_passwords_in_a_service_environment_are_not_printed(tmp_path, output):
    root = _with_environment(tmp_path, {"LEGACY_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "LEGACY_DB": "postgres://u:hunter2pw@db:5432/app"})
    code, out, err = run("plan", "--desired-state", str(root), "--output", output)
    assert code == EXIT_OK, err
    assert "AKIAIOSFODNN7EXAMPLE" not in out + err and "hunter2pw" not in out + err
    if output == "json":
        document = json.loads(out)
        definition = next(r for r in document["resources"] if r["name"] == "td-api-gateway-blue-dev")
        container = json.loads(definition["inputs"]["containerDefinitions"])[0]
        environment = {e["name"]: e["value"] for e in container["environment"]}
        assert environment["LEGACY_KEY_ID"] == "[redacted]"
        assert environment["LEGACY_DB"] == "postgres://[redacted]@db:5432/app"


def test_a_url_password_with_a_slash_is_not_printed(tmp_path):
    root = _with_environment(tmp_path, {"LEGACY_DB": "postgres://u:pa/ss@db"})
    code, out, _ = run("plan", "--desired-state", str(root), "--output", "json")
    assert code == EXIT_OK
    assert "pa/ss" not in out


def test_a_secret_of_the_process_environment_is_not_printed(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "s3cret-passphrase-of-the-stack")
    root = _with_environment(tmp_path, {"STACK_PASSPHRASE_COPY": "s3cret-passphrase-of-the-stack"})
    _, out, _ = run("plan", "--desired-state", str(root), "--output", "json")
    assert "s3cret-passphrase-of-the-stack" not in out


def test_a_bad_traffic_state_reads_like_a_desired_state_problem_under_its_own_heading(tmp_path):
    traffic = tmp_path / "traffic.json"
    traffic.write_text(json.dumps({"services": {"frontend": {"weights": {"blue": 70, "green": 20}}}}))
    code, out, err = run("plan", "--traffic-state", str(traffic))
    assert (code, out) == (EXIT_INVALID, "")
    assert err == (
        "error: traffic state refused (1 problem); nothing was rendered\n"
        f"  {traffic}: services.frontend.weights: blue (70) and green (20) must add up to 100\n"
    )
    traffic.write_bytes(b" " * (1_048_576 + 1))
    _, _, err = run("validate", "--traffic-state", str(traffic))
    assert "larger than 1048576 bytes" in err
