"""The audit archive bucket refuses a PUT that could add a version to an existing key (S3 conditional writes).

moto does not evaluate bucket policies, so the policy document is checked here; the version check
that catches a second version anyway is tested on moto in tests/reconciler/audit/test_tampering.py.
"""

from __future__ import annotations

from tests.deploy.transformed import SCENARIOS, resolve


def test_the_archive_bucket_denies_every_put_without_if_none_match_star(transformed):
    resources = resolve(transformed, SCENARIOS["created"])["Resources"]
    statements = resources["AuditArchiveBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}

    write_once = by_sid["WriteOnceObjects"]
    assert write_once["Effect"] == "Deny" and write_once["Principal"] == "*"
    assert write_once["Action"] == "s3:PutObject"
    assert write_once["Resource"] == "<AuditArchiveBucket.Arn>/*"
    # A negated operator is true when the key is absent: a PUT with no If-None-Match header is denied too.
    assert write_once["Condition"] == {"StringNotEquals": {"s3:if-none-match": "*"}}
    # TLS-only stays.
    assert by_sid["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
