"""The worker image pins the Pulumi CLI and the AWS provider plugin: the versions in pyproject.toml's
[tool.ecs-gitops.pins] agree with the pinned SDK packages, the installed packages, the Dockerfile's
build arguments and the checksums file, and the build refuses a tarball it cannot verify."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "worker.Dockerfile"
CHECKSUMS = ROOT / "deploy" / "worker-checksums.sha256"
PLACEHOLDER = "FILL-IN"


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _dependency(pyproject: dict, package: str) -> str:
    [pin] = [d for d in pyproject["project"]["dependencies"] if re.match(rf"{re.escape(package)}==", d)]
    return pin.split("==", 1)[1]


def _build_arg(name: str) -> str:
    [value] = re.findall(rf"^ARG {name}=(\S+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    return value


def _checksum_lines() -> dict[str, str]:
    lines = [line for line in CHECKSUMS.read_text().splitlines() if line and not line.startswith("#")]
    entries = {}
    for line in lines:
        found = re.fullmatch(r"(\S+)  (\S+)", line)
        assert found, f"not a sha256sum line: {line!r}"
        entries[found[2]] = found[1]
    return entries


def test_the_pins_agree_everywhere(pyproject):
    pins = pyproject["tool"]["ecs-gitops"]["pins"]
    cli, plugin = pins["pulumi-cli"], pins["pulumi-aws-plugin"]
    # The CLI at the SDK's release; the plugin at the pulumi-aws package's version (the SDK it was built with).
    assert cli == _dependency(pyproject, "pulumi") == version("pulumi") == _build_arg("PULUMI_VERSION")
    assert plugin == _dependency(pyproject, "pulumi-aws") == version("pulumi_aws") == _build_arg("PULUMI_AWS_PLUGIN_VERSION")
    # The checksums file covers exactly the pinned tarballs, for both architectures the build supports.
    assert set(_checksum_lines()) == {
        f"pulumi-v{cli}-linux-x64.tar.gz", f"pulumi-v{cli}-linux-arm64.tar.gz",
        f"pulumi-resource-aws-v{plugin}-linux-amd64.tar.gz", f"pulumi-resource-aws-v{plugin}-linux-arm64.tar.gz",
    }


def test_each_checksum_is_a_sha256_or_still_to_be_filled():
    """Never a made-up value: a line is either a sha256 copied from the release's checksums file or the placeholder."""
    for name, checksum in _checksum_lines().items():
        assert checksum == PLACEHOLDER or re.fullmatch(r"[0-9a-f]{64}", checksum), name


def test_the_sam_translator_is_pinned_in_the_dev_extra_at_the_installed_version(pyproject):
    [pin] = [d for d in pyproject["project"]["optional-dependencies"]["dev"] if d.startswith("aws-sam-translator==")]
    assert pin.split("==", 1)[1] == version("aws-sam-translator")


def test_the_image_installs_verified_tarballs_and_never_fetches_at_run_time():
    text = DOCKERFILE.read_text()
    assert "get.pulumi.com" not in text  # the installer script downloads and installs without a checksum
    assert "sha256sum --strict -c" in text
    assert "COPY deploy/worker-checksums.sha256" in text
    assert re.search(r"pulumi plugin install resource aws \"\$\{PULUMI_AWS_PLUGIN_VERSION\}\" --file", text)
    assert re.search(r"^RUN pulumi plugin ls .*PULUMI_AWS_PLUGIN_VERSION", text, flags=re.MULTILINE)
    env = " ".join(re.findall(r"^ENV ((?:.*\\\n)*.*)", text, flags=re.MULTILINE))
    for setting in ("PULUMI_SKIP_UPDATE_CHECK=true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true", "PULUMI_HOME=/opt/pulumi-home"):
        assert setting in env, setting


def _verify(tmp_path: Path, name: str, content: bytes, checksums: str) -> subprocess.CompletedProcess:
    """The Dockerfile's verification step, on a stand-in tarball (nothing can be downloaded here)."""
    (tmp_path / name).write_bytes(content)
    (tmp_path / "worker-checksums.sha256").write_text(checksums)
    script = (
        f'grep -E "  ({re.escape(name)})$" worker-checksums.sha256 > expected.sha256 && '
        "test \"$(wc -l < expected.sha256)\" -eq 1 && sha256sum --strict -c expected.sha256"
    )
    return subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True)


def test_the_build_refuses_a_placeholder_a_mismatch_or_a_missing_line(tmp_path):
    name, content = "pulumi-v3.272.0-linux-x64.tar.gz", b"stand-in tarball"
    good = hashlib.sha256(content).hexdigest()
    assert _verify(tmp_path, name, content, f"{good}  {name}\n").returncode == 0
    assert _verify(tmp_path, name, content, f"{PLACEHOLDER}  {name}\n").returncode != 0
    assert _verify(tmp_path, name, content, f"{hashlib.sha256(b'other').hexdigest()}  {name}\n").returncode != 0
    assert _verify(tmp_path, name, content, f"{good}  pulumi-v3.271.0-linux-x64.tar.gz\n").returncode != 0


def test_the_dockerfiles_verification_step_is_the_one_tested():
    text = DOCKERFILE.read_text()
    assert 'grep -E "  (${cli}|${plugin})\\$" /tmp/worker-checksums.sha256 > /tmp/expected.sha256' in text
    assert 'test "$(wc -l < /tmp/expected.sha256)" -eq 2' in text
