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
    assert edited == text.replace("{repository: frontend, tag: '1.0'}", '{repository: frontend, tag: "2.0"}')


@pytest.mark.parametrize(
    "text",
    ["a: " + "[" * 5000 + "]" * 5000 + "\n", "services:\n  frontend:\n    image: \x00\n"],
    ids=["deep-nesting", "nul-byte"],
)
def test_hostile_text_is_refused_as_a_desired_state_error(text):
    with pytest.raises(DesiredStateError) as refused:
        set_service_image(text, "frontend", NEW, "environments/dev.yaml")
    assert refused.value.problems[0].file == "environments/dev.yaml"
