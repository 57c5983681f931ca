import json

from reconciler.cli import EXIT_INVALID, EXIT_OK
from tests.reconciler.cli_run import run



def test_plan_defaults_to_bundled_dev_as_a_table():
    code, out, err = run("plan")
    assert code == EXIT_OK, err
    assert out.startswith("Plan for environment dev  suffix dev  class non-production  commit ")
    assert "Network network-platform-dev" in out
    assert "+ svc-frontend-blue-dev" in out
    # Ends with a count per resource type and the plain-HTTP warning.
    assert "     5  aws:ecs/service:Service" in out
    assert "     4  aws:lb/targetGroup:TargetGroup" in out
    assert "certificateArn" in out.split("Warnings:")[1]


def test_plan_json_for_prod_lists_resources_and_outputs():
    code, out, _ = run("plan", "--environment", "prod", "--output", "json")
    assert code == EXIT_OK
    document = json.loads(out)
    assert document["environment"] == "prod"
    assert set(document) >= {"environment", "resources", "outputs"}
    service = next(r for r in document["resources"] if r["name"] == "svc-processing-service-prod")
    assert service["type"] == "aws:ecs/service:Service"
    assert service["parent"] == "service-processing-service-prod"
    assert service["inputs"]["networkConfiguration"]["assignPublicIp"] is False
    assert document["outputs"]["clusterName"] == "ecs-cluster-prod"
    assert document["warnings"] == []


def test_plan_json_masks_secret_values():
    _, out, _ = run("plan", "--environment", "prod", "--output", "json")
    document = json.loads(out)
    versions = [r for r in document["resources"] if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"]
    assert len(versions) == 2
    # secretString is a credential name (desired_state.credentials), so the redactor masks it whole.
    assert all(v["inputs"]["secretString"] == "[redacted]" for v in versions)
    # The offline stand-in for the config-sourced value never appears.
    assert "<stack config partnerApiKey>" not in out


def test_plan_refuses_invalid_desired_state_with_file_line_field(write_environment):
    directory = write_environment("broken", "environmentSuffix: dev\nnetwork:\n  cidr: 10.0.0.0/16\n  bogus: 1\n")
    code, out, err = run("plan", "--desired-state", str(directory), "--environment", "broken")
    assert code == EXIT_INVALID
    assert out == ""
    assert "environments/broken.yaml:4: network.bogus: unknown key" in err  # the path as in the repo (issue 9)
    assert str(directory) not in err
    assert "nothing was rendered" in err


def test_plan_unknown_environment_names_the_known_ones(example_dir):
    code, _, err = run("plan", "--desired-state", str(example_dir), "--environment", "staging")
    assert code == EXIT_INVALID
    assert "environment 'staging' not found (known environments: dev, prod)" in err


def test_plan_renders_a_traffic_state_file(tmp_path):
    traffic = tmp_path / "traffic.json"
    traffic.write_text(json.dumps({"services": {"frontend": {"liveColour": "green"}}}))
    code, out, _ = run("plan", "--output", "json", "--traffic-state", str(traffic))
    assert code == EXIT_OK
    document = json.loads(out)
    assert document["outputs"]["liveColours"] == {"frontend": "green", "api-gateway": "blue"}


def test_plan_refuses_an_invalid_traffic_state(tmp_path):
    traffic = tmp_path / "traffic.json"
    traffic.write_text(json.dumps({"services": {"frontend": {"weights": {"blue": 70, "green": 20}}}}))
    code, _, err = run("plan", "--traffic-state", str(traffic))
    assert code == EXIT_INVALID
    assert str(traffic) in err and "must add up to 100" in err
