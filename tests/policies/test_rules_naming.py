"""NAME-001: every logical and physical name carries the environment suffix."""

from __future__ import annotations

from policies.model import PolicyContext


def test_clean_dev_and_prod_pass(kit, dev_views, prod_views):
    assert kit.run(dev_views, "NAME-001") == []
    assert kit.run(prod_views, "NAME-001", kit.PROD) == []


def test_logical_name_without_the_suffix(kit, dev_views):
    broken = kit.replace(dev_views, "logs-frontend-dev", name="logs-frontend")
    violations = kit.run(broken, "NAME-001")
    kit.expect(violations, "NAME-001", "logs-frontend", "logical name 'logs-frontend'", "lacks the environment suffix 'dev'")
    assert kit.resources(violations) == {"logs-frontend"}


def test_physical_name_without_the_suffix(kit, dev_views):
    broken = kit.replace(dev_views, "ecr-frontend-dev", update={"name": "ecr-frontend"})
    violations = kit.run(broken, "NAME-001")
    kit.expect(violations, "NAME-001", "ecr-frontend-dev", "name 'ecr-frontend'", "lacks the environment suffix 'dev'", "include it")
    assert kit.resources(violations) == {"ecr-frontend-dev"}


def test_task_family_without_the_suffix(kit, dev_views):
    broken = kit.replace(dev_views, "td-frontend-blue-dev", update={"family": "td-frontend-blue"})
    kit.expect(kit.run(broken, "NAME-001"), "NAME-001", "td-frontend-blue-dev", "family 'td-frontend-blue'", "suffix 'dev'")


def test_name_prefix_without_the_suffix(kit, dev_views):
    broken = kit.replace(dev_views, "sg-alb-dev", drop=("name",), update={"namePrefix": "sg-alb-"})
    kit.expect(kit.run(broken, "NAME-001"), "NAME-001", "sg-alb-dev", "namePrefix 'sg-alb-'", "suffix 'dev'")


def test_prod_names_are_wrong_in_another_environment(kit, prod_views):
    """The suffix comes from the context: prod's resources all break a 'staging' context."""
    violations = kit.run(prod_views, "NAME-001", PolicyContext("staging", True))
    assert kit.resources(violations) == {v.name for v in prod_views}
