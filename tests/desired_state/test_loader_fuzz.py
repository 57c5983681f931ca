"""Property tests: whatever bytes an environment file holds, the loader answers with a typed refusal
or a desired state the schema accepts, within the loader's work budget (counted, not timed: see
``loader_work.py``).

Three generators: arbitrary bytes, text assembled from YAML's own tokens (anchors, aliases, tags,
merges, flow and block collections, documents), and mutations of the bundled example files.
An accepted input is checked against an independent reading: PyYAML's pure-Python loader
(without timestamps) and a fresh schema validation must give the same state.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from desired_state.errors import DesiredStateError
from desired_state.loader import EXAMPLE_DIR, LoadedEnvironment, load_environment
from desired_state.schema import DesiredState, semantic_problems
from loader_work import metered

EXAMPLES = {name: (EXAMPLE_DIR / "environments" / f"{name}.yaml").read_text() for name in ("dev", "prod")}
FUZZ = settings(max_examples=int(__import__("os").environ.get("LOADER_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class _ReferenceLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader without timestamps: the independent reading of an accepted file."""


_ReferenceLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@pytest.fixture(scope="module")
def desired_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "environments").mkdir()
    return directory


def load_bytes(directory: Path, raw: bytes) -> LoadedEnvironment | DesiredStateError:
    (directory / "environments" / "dev.yaml").write_bytes(raw)
    with metered() as work:
        try:
            result: LoadedEnvironment | DesiredStateError = load_environment(directory, "dev", commit="0" * 40)
        except DesiredStateError as exc:  # anything else fails the test
            result = exc
    assert work.within(), f"past the budget: {work} on {raw[:200]!r}"
    return result


def fuzz_once(directory: Path, raw: bytes) -> None:
    result = load_bytes(directory, raw)
    event("refused" if isinstance(result, DesiredStateError) else "accepted")  # --hypothesis-show-statistics
    check(result, raw)


def check(result: LoadedEnvironment | DesiredStateError, raw: bytes) -> None:
    if isinstance(result, DesiredStateError):
        assert result.problems, "a refusal names at least one problem"
        for problem in result.problems:
            assert problem.file == "environments/dev.yaml"
            assert problem.commit == "0000000"
            assert problem.reason
            assert problem.line is None or problem.line >= 1
        assert "Traceback" not in str(result)
        return
    # Accepted: the state must be one the schema accepts on its own, with no cross-field problem,
    # and the same as an independent YAML reading gives.
    state = result.state
    assert DesiredState.model_validate_json(state.model_dump_json(by_alias=True)) == state
    assert semantic_problems(state) == []
    reference = yaml.load(raw.decode("utf-8-sig"), Loader=_ReferenceLoader)  # noqa: S506 - a safe loader
    assert DesiredState.model_validate_json(__import__("json").dumps(reference)) == state


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes_give_a_typed_answer(desired_state_dir, raw):
    fuzz_once(desired_state_dir, raw)


YAML_TOKENS = [
    "&a ", "&b ", "*a", "*b", "[", "]", "{", "}", ": ", ":", "- ", "-", ",", "\n", "  ", "    ", "\t", "? ",
    "<<: ", "<<: *a", "---\n", "...\n", "'", '"', "\\", "#", "|", ">", "|-", "%YAML 1.1\n", "%TAG ! tag:x,1:\n",
    "!!int ", "!!float ", "!!bool ", "!!str ", "!!null ", "!!binary ", "!!timestamp ", "!!set ", "!!omap ",
    "!!pairs ", "!!map ", "!!seq ", "!!python/object:os.system ", "!custom ", "!<tag:yaml.org,2002:int> ", "! ",
    "0x", "0o17", "1e999", "-.inf", ".nan", "9" * 30, "1_000", "190:20:30", "~", "null", "true", "no", "2024-01-01",
    "\x00", "\x07", "\ufeff", "\u2028", "é", "💥", "key", "value", "environmentSuffix", "dev", "services",
    "frontend", "cpu", "512", "network", "availabilityZones", "us-east-1a",
]


@FUZZ
@given(tokens=st.lists(st.sampled_from(YAML_TOKENS), max_size=80))
def test_yaml_shaped_text_gives_a_typed_answer(desired_state_dir, tokens):
    raw = "".join(tokens).encode("utf-8", "surrogatepass")
    fuzz_once(desired_state_dir, raw)


@st.composite
def mutated_example(draw: st.DrawFn) -> bytes:
    lines = EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))].splitlines(keepends=True)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not lines:
            break
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "insert-token", "replace-char", "truncate", "indent"]))
        line = lines[index]
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, line)
        elif action == "swap":
            other = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif action == "insert-token":
            at = draw(st.integers(min_value=0, max_value=len(line)))
            lines[index] = line[:at] + draw(st.sampled_from(YAML_TOKENS)) + line[at:]
        elif action == "replace-char" and line:
            at = draw(st.integers(min_value=0, max_value=len(line) - 1))
            lines[index] = line[:at] + draw(st.characters(codec="utf-8")) + line[at + 1 :]
        elif action == "truncate":
            lines[index] = line[: draw(st.integers(min_value=0, max_value=len(line)))]
        elif action == "indent":
            lines[index] = draw(st.sampled_from(["", " ", "  ", "\t"])) + line
    return "".join(lines).encode("utf-8", "surrogatepass")


@FUZZ
@given(raw=mutated_example())
def test_mutated_examples_give_a_typed_answer(desired_state_dir, raw):
    fuzz_once(desired_state_dir, raw)


def test_the_unmutated_examples_are_accepted_by_the_same_check(desired_state_dir):
    for text in EXAMPLES.values():
        result = load_bytes(desired_state_dir, text.encode())
        assert isinstance(result, LoadedEnvironment)
        check(result, text.encode())
