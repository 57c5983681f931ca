import pytest

from desired_state.editing import set_service_image
from desired_state.errors import DesiredStateError
from desired_state.loader import EXAMPLE_DIR, validate_document
from desired_state.schema import ImageRef

import yaml

DEV = (EXAMPLE_DIR / "environments" / "dev.yaml").read_text()
NEW = ImageRef(repository="frontend", tag="1.10", digest="sha256:" + "c" * 64)


def test_only_the_image_line_changes_and_comments_survive():
    edited = set_service_image(DEV, "frontend", NEW)
    before, after = DEV.splitlines(), edited.splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1
    assert changed[0][1] == '    image: {repository: frontend, tag: "1.10", digest: sha256:' + "c" * 64 + "}"
    assert [line for line in after if line.lstrip().startswith("#")] == [line for line in before if line.lstrip().startswith("#")]


def test_the_edited_file_is_still_a_valid_desired_state_with_the_new_image():
    state = validate_document(yaml.safe_load(set_service_image(DEV, "frontend", NEW)), "edited")
    # A tag like 1.10 stays a string (YAML would read it unquoted as the float 1.1).
    assert state.services.frontend.image == NEW
    assert state.services.api_gateway.image.tag == "2.8.0"


def test_block_style_image_is_replaced_whole():
    text = "services:\n  frontend:\n    image:\n      repository: frontend\n      tag: '1.0'\n    cpu: 512\n"
    edited = set_service_image(text, "frontend", ImageRef(repository="frontend", tag="2.0"))
    assert yaml.safe_load(edited) == {"services": {"frontend": {"image": {"repository": "frontend", "tag": "2.0"}, "cpu": 512}}}


def test_missing_service_is_refused_with_the_field_path():
    with pytest.raises(DesiredStateError) as refused:
        set_service_image("services: {}\n", "frontend", NEW, "environments/dev.yaml")
    assert "environments/dev.yaml: services.frontend.image: not found" in str(refused.value)


def test_text_before_the_image_in_other_scripts_keeps_the_edit_in_place():
    # Marks count characters, not UTF-8 bytes: a comment in another script must not shift the edit.
    text = "# Händler-Plattform: 取引 💹\nservices:\n  frontend:\n    image: {repository: frontend, tag: '1.0'}  # ünchanged\n    cpu: 512\n"
    edited = set_service_image(text, "frontend", ImageRef(repository="frontend", tag="2.0"))
    # The author's single quotes stay (the issue 10 edits keep the file's formatting).
    assert edited == text.replace("{repository: frontend, tag: '1.0'}", "{repository: frontend, tag: '2.0'}")


@pytest.mark.parametrize(
    "text",
    ["a: " + "[" * 5000 + "]" * 5000 + "\n", "services:\n  frontend:\n    image: \x00\n"],
    ids=["deep-nesting", "nul-byte"],
)
def test_hostile_text_is_refused_as_a_desired_state_error(text):
    with pytest.raises(DesiredStateError) as refused:
        set_service_image(text, "frontend", NEW, "environments/dev.yaml")
    assert refused.value.problems[0].file == "environments/dev.yaml"


# --- write-back edits keep the file as its authors wrote it ------------------------------------

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64

BLOCK = (
    "# dev environment\n"
    "services:\n"
    "  frontend:\n"
    "    image:  # bumped by the release job\n"
    "      repository: frontend\n"
    '      tag: "1.2"  # the current release\n'
    f"      digest: {DIGEST_A}\n"
    "    cpu: 512  # half a vCPU\n"
    "  api-gateway:\n"
    "    image:\n"
    "      repository: api-gateway\n"
    "      tag: '2.0'\n"
)


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new), "lines were added or removed"
    return [(a, b) for a, b in zip(old, new) if a != b]


def test_block_style_stays_block_style_and_only_the_changed_values_move():
    edited = set_service_image(BLOCK, "frontend", ImageRef(repository="frontend", tag="1.3", digest=DIGEST_B))
    assert changed_lines(BLOCK, edited) == [
        ('      tag: "1.2"  # the current release\n', '      tag: "1.3"  # the current release\n'),
        (f"      digest: {DIGEST_A}\n", f"      digest: {DIGEST_B}\n"),
    ]


def test_a_value_equal_image_is_no_change_whatever_its_formatting():
    # Block style, a comment on the key, single quotes around the tag: the same image all the same.
    same_front = ImageRef(repository="frontend", tag="1.2", digest=DIGEST_A)
    assert set_service_image(BLOCK, "frontend", same_front) == BLOCK
    assert set_service_image(BLOCK, "api-gateway", ImageRef(repository="api-gateway", tag="2.0")) == BLOCK
    flow = "services:\n  frontend:\n    image: { repository: frontend,   tag: '1.2' }   # spaced out\n"
    assert set_service_image(flow, "frontend", ImageRef(repository="frontend", tag="1.2")) == flow


def test_flow_style_stays_flow_style_with_its_spacing():
    flow = "services:\n  frontend:\n    image: { repository: frontend,   tag: '1.2' }   # spaced out\n    cpu: 256\n"
    edited = set_service_image(flow, "frontend", ImageRef(repository="frontend", tag="1.3"))
    assert edited == flow.replace("'1.2'", "'1.3'")


def test_comments_next_to_the_image_and_elsewhere_survive_an_edit():
    edited = set_service_image(BLOCK, "api-gateway", ImageRef(repository="api-gateway", tag="2.1"))
    assert changed_lines(BLOCK, edited) == [("      tag: '2.0'\n", "      tag: '2.1'\n")]
    assert [line for line in edited.splitlines() if "#" in line] == [line for line in BLOCK.splitlines() if "#" in line]


@pytest.mark.parametrize(
    ("written", "new_tag", "expected"),
    [
        ("tag: 1.10", "1.10", 'tag: "1.10"'),  # unquoted 1.10 is the float 1.1: not the tag "1.10", so it changes
        ('tag: "1.10"', "1.10", 'tag: "1.10"'),  # already the string: no change
        ("tag: v1", "1.11", 'tag: "1.11"'),  # plain stays plain only where YAML would read a string
        ("tag: v1", "v2", "tag: v2"),
        ("tag: '1.9'", "1.10", "tag: '1.10'"),
    ],
)
def test_tags_that_yaml_would_read_as_numbers_are_quoted(written, new_tag, expected):
    text = f"services:\n  frontend:\n    image:\n      repository: frontend\n      {written}\n    cpu: 256\n"
    edited = set_service_image(text, "frontend", ImageRef(repository="frontend", tag=new_tag))
    assert edited == text.replace(written, expected)
    assert yaml.safe_load(edited)["services"]["frontend"]["image"]["tag"] == new_tag


def test_an_image_with_no_tag_or_digest_yet_gets_them_in_its_own_style():
    block = "services:\n  frontend:\n    image:\n      repository: frontend  # ecr\n    cpu: 256\n"
    edited = set_service_image(block, "frontend", ImageRef(repository="frontend", tag="1.3", digest=DIGEST_B))
    assert edited == block.replace(
        "      repository: frontend  # ecr\n", f'      repository: frontend  # ecr\n      tag: "1.3"\n      digest: {DIGEST_B}\n'
    )
    flow = "services:\n  frontend:\n    image: {repository: frontend}  # ecr\n    cpu: 256\n"
    edited = set_service_image(flow, "frontend", ImageRef(repository="frontend", digest=DIGEST_B))
    assert edited == flow.replace("{repository: frontend}", f"{{repository: frontend, digest: {DIGEST_B}}}")


def test_a_field_the_new_image_does_not_have_is_removed_with_its_line():
    edited = set_service_image(BLOCK, "frontend", ImageRef(repository="frontend", tag="1.3"))
    assert edited == BLOCK.replace('"1.2"', '"1.3"').replace(f"      digest: {DIGEST_A}\n", "")
    flow = f"services:\n  frontend:\n    image: {{repository: frontend, tag: '1.2', digest: {DIGEST_A}}}\n"
    assert set_service_image(flow, "frontend", ImageRef(repository="frontend", digest=DIGEST_A)) == (
        f"services:\n  frontend:\n    image: {{repository: frontend, digest: {DIGEST_A}}}\n"
    )


def test_crlf_line_endings_are_kept_on_changed_and_added_lines():
    crlf = BLOCK.replace("\n", "\r\n")
    edited = set_service_image(crlf, "frontend", ImageRef(repository="frontend", tag="1.3", digest=DIGEST_B))
    assert changed_lines(crlf, edited) == [
        ('      tag: "1.2"  # the current release\r\n', '      tag: "1.3"  # the current release\r\n'),
        (f"      digest: {DIGEST_A}\r\n", f"      digest: {DIGEST_B}\r\n"),
    ]
    no_tag = "services:\r\n  frontend:\r\n    image:\r\n      repository: frontend\r\n"
    added = set_service_image(no_tag, "frontend", ImageRef(repository="frontend", tag="1.3"))
    assert added == no_tag + '      tag: "1.3"\r\n'


def test_a_file_without_a_final_newline_gets_the_added_field_on_its_own_line():
    text = "services:\n  frontend:\n    image:\n      repository: frontend"
    assert set_service_image(text, "frontend", ImageRef(repository="frontend", tag="1.3")) == text + '\n      tag: "1.3"'


@pytest.mark.parametrize(
    "text",
    ["environmentSuffix: dev\n", "services:\n  api-gateway:\n    image: {repository: api-gateway, tag: '1'}\n", "services:\n  frontend:\n    cpu: 256\n"],
    ids=["no-services", "no-such-service", "no-image"],
)
def test_a_missing_service_or_image_names_the_file_and_the_field(text):
    with pytest.raises(DesiredStateError) as refused:
        set_service_image(text, "frontend", NEW, "environments/dev.yaml")
    problem = refused.value.problems[0]
    assert (problem.file, problem.field) == ("environments/dev.yaml", "services.frontend.image")
    assert "not found" in problem.reason and "cannot write the new image back" in problem.reason


def test_an_image_shared_through_an_anchor_is_refused_rather_than_changing_both_services():
    text = (
        "services:\n"
        "  frontend:\n    image: &shared {repository: frontend, tag: '1.2'}\n"
        "  api-gateway:\n    image: *shared\n"
    )
    with pytest.raises(DesiredStateError) as refused:
        set_service_image(text, "frontend", ImageRef(repository="frontend", tag="1.3"), "environments/dev.yaml")
    assert refused.value.problems[0].field == "services.frontend.image"
    assert "anchor" in refused.value.problems[0].reason


def test_the_loader_bounds_apply_before_any_edit():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(5)
    ) + "services:\n  frontend:\n    image: {repository: frontend, tag: '1'}\n"
    with pytest.raises(DesiredStateError) as refused:
        set_service_image(bomb, "frontend", NEW, "environments/dev.yaml")
    assert "aliases" in str(refused.value)
    big = "services:\n  frontend:\n    image: {repository: frontend, tag: '1'}\n" + "# padding\n" * 120_000
    with pytest.raises(DesiredStateError, match="larger than"):
        set_service_image(big, "frontend", NEW, "environments/dev.yaml")


from hypothesis import given, settings
from hypothesis import strategies as st

_TAGS = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,11}\Z").filter(lambda t: t.lower() not in {"latest", "main", "master", "stable", "dev", "prod", "staging", "edge", "nightly"})
_IMAGES = st.builds(
    lambda tag, digest, which: ImageRef(repository="frontend", tag=tag if which != "digest" else None, digest=digest if which != "tag" else None),
    _TAGS, st.sampled_from([DIGEST_A, DIGEST_B]), st.sampled_from(["tag", "digest", "both"]),
)


def _written(image: ImageRef, block: bool, quote: str, newline: str) -> str:
    fields = [("repository", image.repository)] + [(k, v) for k, v in (("tag", image.tag), ("digest", image.digest)) if v]
    shown = [(k, f"{quote}{v}{quote}" if k == "tag" else v) for k, v in fields]
    if block:
        image_text = "image:  # release\n" + "".join(f"      {k}: {v}\n" for k, v in shown)
    else:
        image_text = "image: {" + ", ".join(f"{k}: {v}" for k, v in shown) + "}  # release\n"
    text = "# top\nservices:\n  frontend:\n    " + image_text + "    cpu: 256\n  api-gateway:\n    image: {repository: api-gateway, tag: '2.0'}\n"
    return text.replace("\n", newline)


@settings(max_examples=150, deadline=None)
@given(old=_IMAGES, new=_IMAGES, block=st.booleans(), quote=st.sampled_from(["'", '"']), newline=st.sampled_from(["\n", "\r\n"]))
def test_any_edit_reads_back_as_the_new_image_and_leaves_every_other_line_alone(old, new, block, quote, newline):
    text = _written(old, block, quote, newline)
    edited = set_service_image(text, "frontend", new)
    data = yaml.safe_load(edited)
    assert data["services"]["frontend"]["image"] == new.model_dump(exclude_none=True)
    assert data["services"]["api-gateway"] == yaml.safe_load(text)["services"]["api-gateway"]
    if old == new:
        assert edited == text
    untouched = [line for line in text.splitlines(keepends=True) if "repository" not in line and "tag:" not in line and "digest:" not in line]
    assert [line for line in edited.splitlines(keepends=True) if "repository" not in line and "tag:" not in line and "digest:" not in line] == untouched
    if newline == "\r\n":
        assert "\n" not in edited.replace("\r\n", "")
    else:
        assert "\r" not in edited


def test_a_field_given_by_a_merge_key_is_left_alone_when_it_already_has_the_value():
    text = "base: &base {repository: frontend}\nservices:\n  frontend:\n    image:\n      <<: *base\n      tag: '1.2'\n"
    assert set_service_image(text, "frontend", ImageRef(repository="frontend", tag="1.2")) == text
    edited = set_service_image(text, "frontend", ImageRef(repository="frontend", tag="1.3"))
    assert edited == text.replace("'1.2'", "'1.3'")


def test_an_image_that_is_not_a_mapping_yet_becomes_one_in_place():
    text = "services:\n  frontend:\n    image:\n    cpu: 256\n"
    edited = set_service_image(text, "frontend", ImageRef(repository="frontend", tag="1.3"))
    assert edited == 'services:\n  frontend:\n    image: {repository: frontend, tag: "1.3"}\n    cpu: 256\n'
