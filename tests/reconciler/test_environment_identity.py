"""identity_problems: the desired state's suffix and class must be the settings' own."""

from __future__ import annotations

from reconciler.identity import identity_problems
from reconciler.settings import EnvironmentSettings

PROD = EnvironmentSettings(stack="prod", suffix="prod", production=True, require_signed_commits=False)
DEV = EnvironmentSettings(stack="dev", suffix="dev")
LINES = {"environmentSuffix": 2, "environmentClass": 3}


def test_agreeing_identity_has_no_problem(prod_state, dev_state):
    assert identity_problems(prod_state, PROD, "environments/prod.yaml") == []
    assert identity_problems(dev_state, DEV, "environments/dev.yaml") == []


def test_a_foreign_suffix_is_named_with_file_line_expected_and_found(prod_state):
    claimed = prod_state.model_copy(update={"environment_suffix": "dev"})
    [problem] = identity_problems(claimed, PROD, "environments/prod.yaml", LINES.get)
    assert (problem.file, problem.field, problem.line) == ("environments/prod.yaml", "environmentSuffix", 2)
    assert "expected 'prod'" in problem.reason and "found 'dev'" in problem.reason


def test_a_class_either_way_from_the_settings_is_refused(prod_state, dev_state):
    [down] = identity_problems(prod_state.model_copy(update={"environment_class": "non-production"}), PROD, "p", LINES.get)
    [up] = identity_problems(dev_state.model_copy(update={"environment_class": "production"}), DEV, "d", LINES.get)
    assert (down.field, down.line) == ("environmentClass", 3)
    assert "expected 'production'" in down.reason and "found 'non-production'" in down.reason
    assert "expected 'non-production'" in up.reason and "found 'production'" in up.reason


def test_an_undeclared_class_checks_the_suffix_only(prod_state):
    local = EnvironmentSettings(stack="prod", suffix="prod", environment_class=None)
    assert identity_problems(prod_state, local, "p") == []
    assert [p.field for p in identity_problems(prod_state.model_copy(update={"environment_suffix": "qa"}), local, "p")] == ["environmentSuffix"]
