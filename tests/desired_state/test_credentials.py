"""The one credential heuristic: names (with counter-examples) and value shapes (with counter-examples).

The loader, SECRET-002 and the Redactor all ask these functions; their own tests pin what each
does with the answer.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desired_state.credentials import (
    CredentialSpan,
    credential_shape,
    credential_spans,
    hide_credential_values,
    looks_high_entropy,
    looks_like_credential_name,
    looks_like_credential_value,
    mask_spans,
    name_words,
)

# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("DB_PASSWORD", ["DB", "PASSWORD"]),
        ("dbPassword", ["DB", "PASSWORD"]),
        ("APIKey", ["API", "KEY"]),
        ("X-Api-Key", ["X", "API", "KEY"]),
        ("Jwt.Signing.Key", ["JWT", "SIGNING", "KEY"]),
        ("S3Key", ["S3", "KEY"]),
        ("kebab-case name", ["KEBAB", "CASE", "NAME"]),
        ("", []),
    ],
)
def test_names_split_into_words_on_snake_kebab_dots_and_camel_case(name, words):
    assert name_words(name) == words


@pytest.mark.parametrize(
    "name",
    [
        # words, in every case style
        "DB_PASSWORD", "dbPassword", "db-pass", "PWD", "passwd", "PASSPHRASE", "passcode", "client_secret", "APP_SECRETS",
        "GITHUB_TOKEN", "accessToken", "CREDENTIALS", "creds", "SENTRY_DSN", "BASIC_AUTH", "OAuth", "AUTH_HEADER",
        "Authorization", "Cookie", "PASSWORD_SALT", "SecretString",
        # run together
        "DBPASSWORD", "CLIENTSECRET", "GITHUBTOKEN", "apikey", "PRIVATEKEY",
        # keys
        "API_KEY", "apiKey", "SIGNING_KEY", "ENCRYPTION_KEY", "PRIVATE_KEY", "sshKey", "STRIPE_KEY", "AWS_SECRET_ACCESS_KEY",
        # sequences
        "CONNECTION_STRING", "DB_CONN_STR", "AWS_ACCESS_KEY_ID", "PRIVATE_PEM",
        # trailing qualifiers dropped
        "API_KEY_2", "DB_PASSWORD_OLD", "TOKEN_B64", "SECRET_KEY_BASE", "X-Hub-Token-256",
    ],
)
def test_credential_names(name):
    assert looks_like_credential_name(name)


@pytest.mark.parametrize(
    "name",
    [
        # whole words only
        "AUTHOR", "authority", "PASSENGER_COUNT", "BYPASS_CACHE", "MONKEY_MODE", "KEYCLOAK_URL", "KEYBOARD_LAYOUT", "TOKENIZER_MODEL",
        # about a credential, not one
        "TOKEN_TTL_SECONDS", "PASSWORD_MIN_LENGTH", "PUBLIC_KEY_URL", "AUTH_URL", "SECRET_ARN", "secretArn", "SecretId",
        "DB_PASSWORD_FILE", "CREDENTIALS_FILE", "kmsKeyId", "webhookSecretId", "OAUTH_CLIENT_ID",
        # keys that are not secrets
        "PUBLIC_KEY", "JWT_PUBLIC_KEY", "PARTITION_KEY", "sort_key", "CACHE_KEY", "ROUTING_KEY", "configKey", "kms_key", "S3Key",
        # words the three old heuristics disagreed on, settled as no credential
        "PRIVATE", "privateSubnets", "SESSION", "CERT", "TLS_CERT", "SIGNATURE", "X-Hub-Signature-256", "tokens_used", "KEYS",
        # plain
        "LOG_LEVEL", "API_BASE_PATH", "desiredCount", "cpu", "", "_", "2",
    ],
)
def test_names_that_are_not_credentials(name):
    assert not looks_like_credential_name(name)
    assert not looks_like_credential_name(name, bare_key_counts=True)


@pytest.mark.parametrize("name", ["KEY", "key", "Key_2"])
def test_a_bare_key_counts_only_when_asked(name):
    """An environment variable named KEY holds a key; a data field named ``key`` is an identifier."""
    assert looks_like_credential_name(name, bare_key_counts=True)
    assert not looks_like_credential_name(name)


# --- value shapes -------------------------------------------------------------------------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# What each shape is called, and examples of it: the text, and the secret part a span covers.
SHAPES: dict[str, list[tuple[str, str]]] = {
    "an AWS access key id": [
        ("using AKIAIOSFODNN7EXAMPLE now", "AKIAIOSFODNN7EXAMPLE"),
        ("ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
        ("AKIAIOSFODNN7EXAMPLEx!", "AKIAIOSFODNN7EXAMPLE"),  # ids are upper case: a lower-case letter ends one
    ],
    "a GitHub token": [
        ("token ghp_" + "a1B2" * 9 + ".", "ghp_" + "a1B2" * 9),
        ("ghs_" + "z" * 30, "ghs_" + "z" * 30),
        ("github_pat_" + "x1" * 20, "github_pat_" + "x1" * 20),
    ],
    "a GitLab token": [("glpat-" + "Ab1_" * 5, "glpat-" + "Ab1_" * 5)],
    "a Slack token": [("hook xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij")],
    "a JSON web token": [("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")],
    "a PEM private key": [
        ("x -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY----- y", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----"),
    ],
    "a URL with an embedded password": [("https://trader:pa/ss@db.internal/orders", "trader:pa/ss"), ("redis://:s3cretpa55@cache:6379/0", ":s3cretpa55")],
    "an AWS secret access key": [(f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET)],
    "an HTTP authorization credential": [
        ("sent Bearer 9f8e7d6c5b4a39281706 upstream", "9f8e7d6c5b4a39281706"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ],
    "a URL with a token in its query": [
        ("GET /cb?access_token=abc123def&state=xyz", "abc123def"),
        ("https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=AbC%2Bd3Ef", "AbC%2Bd3Ef"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Date=20250101T000000Z&X-Amz-Signature=9f8e7d6c", "9f8e7d6c"),
    ],
    "a connection string with a password": [("host=db user=app password=hunter2 dbname=orders", "hunter2"), ("Server=db;Password=hunter2;Database=orders", "hunter2")],
    "a value assigned to a credential-named key": [('{"client_secret": "cs-8d7f6e5a4b3c", "id": 4}', "cs-8d7f6e5a4b3c")],
}
SHAPE_CASES = [(what, text, secret) for what, examples in SHAPES.items() for text, secret in examples]


@pytest.mark.parametrize(("what", "text", "secret"), SHAPE_CASES, ids=[f"{what}-{i}" for i, (what, _, _) in enumerate(SHAPE_CASES)])
def test_credential_shapes_say_what_they_are_and_where_the_secret_is(what, text, secret):
    assert credential_shape(text) == what
    assert looks_like_credential_value(text)
    assert any(text[span.start : span.end] == secret for span in credential_spans(text))
    hidden = hide_credential_values(text)
    assert secret not in hidden and "<hidden>" in hidden


def test_a_span_leaves_the_key_the_scheme_and_the_host_readable():
    assert hide_credential_values("Authorization: Bearer abc.def-ghi_jkl") == "Authorization: Bearer <hidden>"
    assert hide_credential_values("GET /cb?access_token=abc123def&state=xyz") == "GET /cb?access_token=<hidden>&state=xyz"
    assert hide_credential_values("postgres://app:pw@db.internal:5432/app") == "postgres://<hidden>@db.internal:5432/app"


COUNTER_EXAMPLES = [
    "1.4.2",
    "AKIA",
    "AKIAIOSFODNN7EXAMPL",  # 15 characters after the prefix
    "xAKIAIOSFODNN7EXAMPLE",  # inside a longer word
    "https://example.com/path",
    "https://keycloak.internal/realms/trading",
    "postgres://db.internal:5432/orders",
    "mailto:me@example.com",
    "user@example.com",
    "Bearer authentication",
    "Basic authentication-required for partners",
    "the token bucket refilled; password policy is enforced",
    "bypass=1 author=jane tokens_used=14 secrets=2",
    "LOG_LEVEL=debug;FORMAT=json",
    "token_ttl_seconds=3600 password_file=/run/secrets/db",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-credentials-AbCdEf",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "ghp_ is the prefix of a classic personal access token",
    "eyJ alone is not a JWT",
    "commit 6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    '    if token == expected and api_key != "":',
    "key=environments/dev.yaml",  # a bare key is an identifier in text
    "X-Hub-Signature-256: sha256=0123abcd",  # a digest header, not a query signature
    "signature=0123abcd sig=42",
]


@pytest.mark.parametrize("text", COUNTER_EXAMPLES)
def test_counter_examples_hold_no_credential(text):
    assert credential_shape(text) is None
    assert not looks_like_credential_value(text)
    assert hide_credential_values(text) == text


def test_a_host_port_path_at_address_is_masked_to_be_safe_but_is_no_password():
    """The Redactor masks every span; the policy and the loader judge only the recognised ones."""
    text = "https://api.example.com:8443/v1/users/alice@example.com"
    spans = credential_spans(text)
    assert spans == [CredentialSpan(len("https://"), text.rindex("@"), None)]
    assert credential_shape(text) is None
    user_only = "https://deploy@git.example.com/x"
    assert [span.what for span in credential_spans(user_only)] == [None]
    assert not looks_like_credential_value(user_only)


def test_a_previous_mask_is_not_taken_again():
    assert credential_spans("password=[redacted] next", previous_mask="[redacted]") == []
    assert credential_spans("password=<hidden>") == []


def test_mask_spans_joins_overlapping_spans_into_one_mask():
    assert mask_spans("abcdefgh", [(1, 3), (2, 5), (6, 7)], "*") == "a*f*h"
    assert mask_spans("abc", [], "*") == "abc"
    assert mask_spans("abc", [(0, 3)], "*") == "*"


def test_high_entropy_is_a_separate_question():
    assert looks_high_entropy("Zq8Xv2Lr9Kp4Wn7Tb1Hc6Fd3Jm5Ys0Ga")
    assert not looks_high_entropy("6113728f27ae82c7b1a177c8d03f9e96e0adf246")  # hex: at most 4 bits, rarely reached
    assert not looks_high_entropy("aaaaaaaaaaaaaaaaaaaaaaaaaaaa1")
    assert not looks_high_entropy("short1A")
    assert credential_shape("Zq8Xv2Lr9Kp4Wn7Tb1Hc6Fd3Jm5Ys0Ga") is None  # shapes never guess by entropy


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_hiding_never_leaves_a_recognised_credential(text):
    hidden = hide_credential_values(text)
    assert all(span.what is None for span in credential_spans(hidden))
