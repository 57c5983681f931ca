"""Untrusted input: every file, whatever its size or shape, is refused within the loader's work budget
and a few megabytes, with a typed error.

Each case was reproduced on the loader before bounds were added: the alias bombs took minutes
and gigabytes (work is counted, not timed: see ``loader_work.py``), deep nesting raised RecursionError, a NUL byte ReaderError, a huge int
ValueError, bad explicit tags KeyError/IndexError/AttributeError, ``!!timestamp`` TypeError.
"""

from __future__ import annotations

import os
import threading
import tracemalloc

import pytest

from desired_state.errors import DesiredStateError
from desired_state.loader import load_environment
from loader_work import metered

FILE = "environments/dev.yaml"
HANG = 30.0  # seconds: reached only if reading blocks, which is the defect tested for


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        refs = ",".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def refused_within_budget(write_environment, text: str | bytes, **kwargs) -> DesiredStateError:
    directory = write_environment("dev", "")
    path = directory / "environments" / "dev.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with metered() as work, pytest.raises(DesiredStateError) as caught:
        load_environment(directory, "dev", **kwargs)
    assert work.within(), f"past the budget: {work}"
    tracemalloc.start()
    try:
        with pytest.raises(DesiredStateError):
            load_environment(directory, "dev", **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    for problem in caught.value.problems:
        assert problem.file == FILE
        assert problem.reason
    return caught.value


def test_billion_laughs_406_bytes_is_refused_fast(write_environment):
    bomb = billion_laughs()
    assert 350 <= len(bomb) <= 450

    error = refused_within_budget(write_environment, bomb)

    [problem] = error.problems
    assert "aliases must not multiply the document" in problem.reason
    assert problem.line is not None


def test_alias_bomb_of_nine_levels_of_mappings_is_refused_fast(write_environment):
    lines = ["b0: &b0 {x: 1, y: 2, z: 3}"]
    for level in range(1, 9):
        lines.append(f"b{level}: &b{level} {{" + ", ".join(f"k{i}: *b{level - 1}" for i in range(9)) + "}")

    error = refused_within_budget(write_environment, "\n".join(lines) + "\n")

    assert "aliases must not multiply" in error.problems[0].reason


def test_merge_key_bomb_is_refused_fast(write_environment):
    lines = ["m0: &m0 {x: 1}"]
    for level in range(1, 40):
        lines.append(f"m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}], k{level}: 1}}")

    error = refused_within_budget(write_environment, "\n".join(lines) + "\n")

    assert any("aliases must not multiply" in p.reason for p in error.problems)


def test_anchor_that_contains_itself_is_refused(write_environment):
    error = refused_within_budget(write_environment, "environmentSuffix: dev\nnetwork: &n {cidr: 10.0.0.0/16, self: *n}\n")

    assert "must not form a cycle" in error.problems[0].reason


@pytest.mark.parametrize("depth", [65, 500, 100_000])
def test_deep_nesting_is_refused_before_recursion_fails(write_environment, depth):
    error = refused_within_budget(write_environment, "a: " + "[" * depth + "]" * depth + "\n")

    [problem] = error.problems
    assert "nested more than 64 levels deep" in problem.reason
    assert problem.line == 1


def test_deep_block_nesting_is_refused(write_environment):
    text = "".join(f"{'  ' * level}k{level}:\n" for level in range(200)) + "  " * 200 + "v\n"

    error = refused_within_budget(write_environment, text)

    assert "nested more than 64 levels deep" in error.problems[0].reason


def test_file_over_the_size_cap_is_refused_without_reading_it(write_environment):
    big = "# " + "x" * (2 * 2**20) + "\n"

    error = refused_within_budget(write_environment, big)

    [problem] = error.problems
    assert (problem.file, problem.line) == (FILE, None)
    assert "larger than 1048576 bytes" in problem.reason


def test_the_size_cap_is_configurable(write_environment, dev_yaml):
    error = refused_within_budget(write_environment, dev_yaml.text, max_file_bytes=1000)

    assert "larger than 1000 bytes" in error.problems[0].reason
    directory = write_environment("dev", dev_yaml.text)
    assert load_environment(directory, "dev", max_file_bytes=len(dev_yaml.text.encode())).state.environment_suffix == "dev"


def test_sixty_megabyte_file_is_refused_fast(write_environment):
    error = refused_within_budget(write_environment, b"a: b\n" * (12 * 2**20))

    assert "larger than" in error.problems[0].reason


def test_a_megabyte_of_values_under_the_cap_is_refused_fast(write_environment):
    text = "a: [" + ",".join(["1"] * 400_000) + "]\n"
    assert len(text) < 2**20

    error = refused_within_budget(write_environment, text)

    assert "more than 10000 values" in error.problems[0].reason


@pytest.mark.parametrize(
    "text",
    ["\n" * 1_000_000, "#" + "x" * 1_000_000 + "\n", 'a: "' + "\\t" * 500_000 + '"\n', "a: " + "x " * 500_000 + "\n"],
    ids=["newlines", "comment", "escapes", "long-plain-scalar"],
)
def test_a_megabyte_of_text_is_scanned_fast(write_environment, text):
    refused_within_budget(write_environment, text)


def test_nul_byte_is_refused_at_its_line(write_environment):
    error = refused_within_budget(write_environment, "environmentSuffix: dev\nregion: us-\x00east-1\n")

    [problem] = error.problems
    assert problem.line == 2
    assert "NUL" in problem.reason


def test_control_character_is_refused_at_its_line(write_environment):
    error = refused_within_budget(write_environment, "environmentSuffix: dev\n\nregion: us-\x07east-1\n")

    [problem] = error.problems
    assert problem.line == 3
    assert "not valid YAML" in problem.reason


def test_non_utf8_bytes_are_refused_at_their_line(write_environment):
    error = refused_within_budget(write_environment, b"environmentSuffix: dev\nregion: \xff\xfe\n")

    [problem] = error.problems
    assert problem.line == 2
    assert "not UTF-8" in problem.reason


def test_utf16_file_is_refused(write_environment):
    error = refused_within_budget(write_environment, "environmentSuffix: dev\n".encode("utf-16"))

    assert "UTF-16" in error.problems[0].reason


def test_utf8_byte_order_mark_is_accepted(write_environment, dev_yaml):
    directory = write_environment("dev", "")
    (directory / "environments" / "dev.yaml").write_bytes(b"\xef\xbb\xbf" + dev_yaml.text.encode())

    assert load_environment(directory, "dev").state.environment_suffix == "dev"


def test_huge_integer_is_refused_at_its_field(write_environment, dev_yaml):
    edited = dev_yaml.replace("    cpu: 512\n", "    cpu: " + "9" * 5000 + "\n")

    error = refused_within_budget(write_environment, edited.text)

    [problem] = error.problems
    assert (problem.field, problem.line) == ("services.frontend.cpu", edited.line("9999"))
    assert "out of range" in problem.reason


def test_huge_hex_integer_is_refused_at_its_field(write_environment, dev_yaml):
    edited = dev_yaml.replace("    cpu: 512\n", "    cpu: 0x" + "f" * 90 + "\n")

    error = refused_within_budget(write_environment, edited.text)

    assert [(p.field, p.reason) for p in error.problems] == [("services.frontend.cpu", "the integer is out of range (at most 2**63 - 1)")]


@pytest.mark.parametrize(
    "value",
    [
        '!!int "x"',
        '!!int ""',
        "!!float x",
        '!!float ""',
        "!!bool maybe",
        "!!timestamp 2024-13-99",
        "!!timestamp x",
        "!!timestamp 2024-01-01",
        "!!binary '@@@'",
        "!!binary aGVsbG8=",
        "!!python/object:os.system x",
        "!!python/name:os.system ''",
        "!<tag:yaml.org,2002:python/object/apply:os.system> [ls]",
        "!!set {a, b}",
        "!!omap [a: 1]",
        "!!pairs [a: 1]",
        "!!map [a]",
        "!!seq {a: 1}",
        "!!str [a]",
        "!custom x",
    ],
)
def test_explicit_tag_is_refused_at_its_field(write_environment, dev_yaml, value):
    edited = dev_yaml.replace("      LOG_LEVEL: debug\n      API_BASE_PATH: /api\n", f"      LOG_LEVEL: {value}\n      API_BASE_PATH: /api\n")

    error = refused_within_budget(write_environment, edited.text)

    assert [(p.field, p.line) for p in error.problems] == [("services.frontend.environment.LOG_LEVEL", edited.line("LOG_LEVEL: !"))]


def test_complex_key_is_refused(write_environment, dev_yaml):
    edited = dev_yaml.append("? [a, b]\n: c\n")

    error = refused_within_budget(write_environment, edited.text)

    assert [(p.field, p.line) for p in error.problems] == [("", edited.line("? [a, b]"))]
    assert "a key must be a plain string" in error.problems[0].reason


def test_second_document_after_a_valid_one_is_refused(write_environment, dev_yaml):
    error = refused_within_budget(write_environment, dev_yaml.text + "---\n" + dev_yaml.text)

    assert "another document" in error.problems[0].reason


def test_undefined_alias_is_refused(write_environment):
    error = refused_within_budget(write_environment, "environmentSuffix: *nothing\n")

    assert "undefined alias" in error.problems[0].reason
    assert error.problems[0].line == 1


def test_very_long_value_is_refused(write_environment):
    error = refused_within_budget(write_environment, "environmentSuffix: " + "d" * 100_000 + "\n")

    assert error.problems[0].reason == "a value of 100000 characters; at most 65536 are allowed"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_named_pipe_is_refused_without_blocking(write_environment):
    directory = write_environment("qa", "environmentSuffix: qa\n")
    os.mkfifo(directory / "environments" / "dev.yaml")

    answers: list[BaseException] = []

    def load() -> None:
        try:
            load_environment(directory, "dev")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            answers.append(exc)

    reader = threading.Thread(target=load, daemon=True)  # daemon: a blocked open must not hang pytest's exit
    reader.start()
    reader.join(HANG)

    assert not reader.is_alive(), "opening a named pipe blocked waiting for a writer"
    assert len(answers) == 1 and isinstance(answers[0], DesiredStateError), answers
    assert "not a regular file" in answers[0].problems[0].reason
