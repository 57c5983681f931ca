"""Image write-back: one commit per image, pushed with retries when another writer wins the race."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from desired_state.loader import EXAMPLE_DIR
from desired_state.schema import ImageRef, RolloutSpec
from desired_state.traffic import ColourWeights
from reconciler.adapters.stack_state import FileStackStateStore
from reconciler.errors import SourceError
from reconciler.rollout.model import RolloutPhase, RolloutRecord, RolloutResources, Transition
from reconciler.rollout.writeback import GitImageWriteBack

NOW = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()



def image_in(origin: Path, tmp_path: Path, service: str) -> dict:
    check = tmp_path / f"check-{service}"
    git("clone", "-q", str(origin), str(check), cwd=tmp_path)
    return yaml.safe_load((check / "environments" / "dev.yaml").read_text())["services"][service]["image"]


def record(service: str, new: ImageRef) -> RolloutRecord:
    return RolloutRecord(
        rollout_id=f"r-{service}", stack="dev", environment="dev", service=service, phase=RolloutPhase.SCANNING,
        from_colour="blue", to_colour="green", old_image=ImageRef(repository=service, tag="1.0.0"), new_image=new,
        spec=RolloutSpec(), live_desired_count=2, weights=ColourWeights(blue=100, green=0),
        resources=RolloutResources(cluster="c", ecs_services={}, target_groups={}, listener_arn="l", repository=f"ecr-{service}-dev"),
        phase_started_at=NOW, created_at=NOW, updated_at=NOW,
        history=[Transition(at=NOW, from_phase=None, to_phase=RolloutPhase.SCANNING, reason="started by ecr-image-push:evt-1")],
    )


def test_stage_pins_the_live_colour_then_commits_the_image_with_a_telling_message(origin, tmp_path):
    states = FileStackStateStore(tmp_path / "status")
    new = ImageRef(repository="frontend", tag="1.5.0", digest="sha256:" + "d" * 64)
    commit = GitImageWriteBack(str(origin), "main", states).stage(record("frontend", new))
    assert image_in(origin, tmp_path, "frontend") == {"repository": "frontend", "tag": "1.5.0", "digest": new.digest}
    message = git("log", "-1", "--format=%B", commit, cwd=origin)
    assert "frontend 1.5.0" in message and new.digest in message and "ecr-image-push:evt-1" in message
    traffic = states.get("dev").traffic.of("frontend")
    assert (traffic.live_colour, traffic.live_image) == ("blue", ImageRef(repository="frontend", tag="1.0.0"))


def test_two_images_pushed_at_the_same_moment_both_land(origin, tmp_path):
    states = FileStackStateStore(tmp_path / "status")
    api_image = ImageRef(repository="api-gateway", tag="2.9.0", digest="sha256:" + "e" * 64)
    front_image = ImageRef(repository="frontend", tag="1.6.0", digest="sha256:" + "f" * 64)
    other = GitImageWriteBack(str(origin), "main", states)

    def race(clone: Path, attempt: int) -> None:
        # Just before this writer pushes, another writer lands a different service's image.
        if attempt == 1:
            other.commit_image("dev", "api-gateway", api_image, "ecs-gitops: roll out api-gateway 2.9.0")

    GitImageWriteBack(str(origin), "main", states, before_push=race).commit_image("dev", "frontend", front_image, "ecs-gitops: roll out frontend 1.6.0")
    assert image_in(origin, tmp_path, "frontend")["tag"] == "1.6.0"
    assert image_in(origin, tmp_path, "api-gateway")["tag"] == "2.9.0"
    subjects = git("log", "--format=%s", "-3", "main", cwd=origin).splitlines()
    assert subjects[:2] == ["ecs-gitops: roll out frontend 1.6.0", "ecs-gitops: roll out api-gateway 2.9.0"]


def test_a_branch_that_keeps_moving_fails_after_the_bound(origin, tmp_path):
    states = FileStackStateStore(tmp_path / "status")
    other = GitImageWriteBack(str(origin), "main", states)
    tags = iter(f"3.0.{n}" for n in range(10))

    def always_lose(clone: Path, attempt: int) -> None:
        other.commit_image("dev", "api-gateway", ImageRef(repository="api-gateway", tag=next(tags)), "race")

    writer = GitImageWriteBack(str(origin), "main", states, attempts=3, before_push=always_lose)
    with pytest.raises(SourceError, match="after 3 attempts"):
        writer.commit_image("dev", "frontend", ImageRef(repository="frontend", tag="9.9.9"), "never lands")
    assert image_in(origin, tmp_path, "frontend")["tag"] == "1.4.2"


def test_revert_commits_the_old_image_back(origin, tmp_path):
    states = FileStackStateStore(tmp_path / "status")
    writer = GitImageWriteBack(str(origin), "main", states)
    rollout = record("frontend", ImageRef(repository="frontend", tag="1.7.0"))
    writer.stage(rollout)
    writer.revert(rollout.model_copy(update={"rollback_reason": "alarm frontend-5xx fired"}))
    assert image_in(origin, tmp_path, "frontend") == {"repository": "frontend", "tag": "1.0.0"}
    assert "alarm frontend-5xx fired" in git("log", "-1", "--format=%B", "main", cwd=origin)


def test_signed_write_back_commits_verify_against_the_allowed_signers(origin, tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen: would sign a write-back commit with an ed25519 key and verify it")
    key = tmp_path / "writeback_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "ecs-gitops"], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ecs-gitops@example.com {(tmp_path / 'writeback_ed25519.pub').read_text().strip()}\n")
    writer = GitImageWriteBack(str(origin), "main", FileStackStateStore(tmp_path / "status"), "ecs-gitops", "ecs-gitops@example.com", signing_key=str(key))
    commit = writer.commit_image("dev", "frontend", ImageRef(repository="frontend", tag="1.8.0"), "ecs-gitops: roll out frontend 1.8.0")

    from reconciler.source import GitSource, SignerTrust

    source = GitSource(str(origin), "main", tmp_path / "work")
    assert source.verify_signature(commit, SignerTrust(allowed_signers_file=str(allowed))) == "ssh:ecs-gitops@example.com"


def test_settings_refuse_unsigned_write_back_into_an_environment_that_requires_signatures():
    from pydantic import ValidationError

    from reconciler.settings import ReconcilerSettings

    with pytest.raises(ValidationError, match="writeBackSigningKey"):
        ReconcilerSettings.model_validate(
            {"repository": {"url": "x"}, "environments": {"prod": {"stack": "prod", "suffix": "prod", "production": True, "allowedSignersFile": "/a"}}}
        )
    ReconcilerSettings.model_validate(
        {"repository": {"url": "x", "imageWriteBack": False}, "environments": {"prod": {"stack": "prod", "suffix": "prod", "production": True, "allowedSignersFile": "/a"}}}
    )


# --- nothing to change, nothing committed; a change is exactly its lines --------------------------

DIGEST_A = "sha256:" + "a" * 64
BLOCK_DEV = (EXAMPLE_DIR / "environments" / "dev.yaml").read_text().replace(
    '    image: {repository: frontend, tag: "1.4.2"}\n',
    "    image:  # set by the release job\n      repository: frontend\n      tag: \"1.2\"\n"
    f"      digest: {DIGEST_A}\n",
)


def origin_holding(tmp_path: Path, dev_yaml: bytes) -> Path:
    """A bare desired-state repo whose environments/dev.yaml is exactly ``dev_yaml``."""
    seed = tmp_path / "seed-exact"
    (seed / "environments").mkdir(parents=True)
    (seed / "environments" / "dev.yaml").write_bytes(dev_yaml)
    git("init", "-q", "-b", "main", cwd=seed)
    git("config", "core.autocrlf", "false", cwd=seed)
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".", cwd=seed)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed", cwd=seed)
    bare = tmp_path / "exact.git"
    git("clone", "-q", "--bare", str(seed), str(bare), cwd=tmp_path)
    return bare


def commits(origin: Path) -> int:
    return int(git("rev-list", "--count", "main", cwd=origin))


def test_a_revert_to_the_image_already_there_commits_nothing_in_block_style(tmp_path):
    origin = origin_holding(tmp_path, BLOCK_DEV.encode())
    head = git("rev-parse", "main", cwd=origin)
    writer = GitImageWriteBack(str(origin), "main", FileStackStateStore(tmp_path / "status"))
    rollout = record("frontend", ImageRef(repository="frontend", tag="1.3")).model_copy(
        update={"old_image": ImageRef(repository="frontend", tag="1.2", digest=DIGEST_A), "rollback_reason": "scan gate failed"}
    )
    assert writer.revert(rollout) == head
    assert commits(origin) == 1


def test_staging_the_image_already_there_commits_nothing(tmp_path):
    origin = origin_holding(tmp_path, BLOCK_DEV.encode())
    writer = GitImageWriteBack(str(origin), "main", FileStackStateStore(tmp_path / "status"))
    writer.stage(record("frontend", ImageRef(repository="frontend", tag="1.2", digest=DIGEST_A)))
    assert commits(origin) == 1


def test_the_diff_of_a_real_change_is_exactly_the_changed_lines(tmp_path):
    origin = origin_holding(tmp_path, BLOCK_DEV.encode())
    writer = GitImageWriteBack(str(origin), "main", FileStackStateStore(tmp_path / "status"))
    writer.stage(record("frontend", ImageRef(repository="frontend", tag="1.3", digest="sha256:" + "b" * 64)))
    assert commits(origin) == 2
    diff = git("diff", "--unified=0", "main~1", "main", cwd=origin).splitlines()
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ['-      tag: "1.2"', f"-      digest: {DIGEST_A}", '+      tag: "1.3"', "+      digest: sha256:" + "b" * 64]


def test_a_crlf_file_keeps_its_line_endings_and_only_the_changed_line_moves(tmp_path):
    crlf = BLOCK_DEV.replace("\n", "\r\n").encode()
    origin = origin_holding(tmp_path, crlf)
    writer = GitImageWriteBack(str(origin), "main", FileStackStateStore(tmp_path / "status"))
    rollout = record("frontend", ImageRef(repository="frontend", tag="1.3")).model_copy(
        update={"old_image": ImageRef(repository="frontend", tag="1.1", digest=DIGEST_A), "rollback_reason": "alarm fired"}
    )
    writer.revert(rollout)
    after = subprocess.run(["git", "show", "main:environments/dev.yaml"], cwd=origin, check=True, capture_output=True).stdout
    assert after == crlf.replace(b'tag: "1.2"', b'tag: "1.1"')
    # And the same revert again is no change: nothing more is committed.
    writer.revert(rollout)
    assert commits(origin) == 2


def test_a_service_missing_from_the_file_is_a_clear_error_naming_the_file_and_field(tmp_path):
    from desired_state.errors import DesiredStateError

    origin = origin_holding(tmp_path, b"environmentSuffix: dev\nservices: {}\n")
    writer = GitImageWriteBack(str(origin), "main", FileStackStateStore(tmp_path / "status"))
    with pytest.raises(DesiredStateError) as refused:
        writer.commit_image("dev", "frontend", ImageRef(repository="frontend", tag="1.3"), "never lands")
    assert "environments/dev.yaml: services.frontend.image: not found" in str(refused.value)
    assert commits(origin) == 1
