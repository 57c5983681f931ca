"""The environment suffix and the AWS name-length limits it must respect."""

from __future__ import annotations

import pytest

from desired_state.naming import NAME_LIMITS, name, suffix_problems

PATTERN_REASON = "must be lowercase letters, digits and single hyphens"


@pytest.mark.parametrize("suffix", ["dev", "prod", "pr-123", "x", "7", "a-b-c"])
def test_valid_suffix_has_no_problems(suffix):
    assert suffix_problems(suffix) == []


@pytest.mark.parametrize("suffix", ["Dev", "a--b", "-a", "a-", "a_b", "", "dev.1", "dev 1"])
def test_malformed_suffix_is_refused_with_one_pattern_problem(suffix):
    problems = suffix_problems(suffix)

    assert len(problems) == 1
    assert problems[0].startswith(PATTERN_REASON)


def test_eleven_character_suffix_is_accepted():
    assert len("abcdefghijk") == 11
    assert suffix_problems("abcdefghijk") == []


def test_twelve_character_suffix_breaks_the_target_group_limit():
    problems = suffix_problems("abcdefghijkl")

    assert problems == [
        "makes the ELBv2 target group name 'tg-api-gateway-green-abcdefghijkl' 33 characters; "
        "AWS allows 32, so the suffix may be at most 11 characters"
    ]


def test_long_suffix_reports_every_limit_it_breaks():
    suffix = "a" * 40  # over the target group (11), ALB (19) and IAM role (30) allowances

    problems = suffix_problems(suffix)

    assert len(problems) == 3
    assert [p.split(" '")[0] for p in problems] == [
        "makes the ELBv2 target group name",
        "makes the application load balancer name",
        "makes the IAM role name",
    ]
    assert "at most 19 characters" in problems[1]
    assert "at most 30 characters" in problems[2]


def test_target_group_limit_is_the_tightest():
    allowances = {limit.what: limit.max_length - len(limit.longest_stem) for limit in NAME_LIMITS}

    assert allowances["ELBv2 target group name"] == 11
    assert min(allowances.values()) == 11


def test_name_joins_type_service_qualifier_and_suffix():
    assert name("tg", "dev", "api-gateway", "green") == "tg-api-gateway-green-dev"
    assert name("alb", "prod", "platform") == "alb-platform-prod"
    assert name("ecs", "dev") == "ecs-dev"
