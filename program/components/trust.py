"""IAM trust policies for roles that an AWS service assumes on this account's behalf."""

from __future__ import annotations

import json


def service_trust_policy(service_principal: str, account_id: str, source_arn: str) -> str:
    """Only ``service_principal`` acting for this account, and for ``source_arn``, may assume the role.

    Both conditions guard against the confused-deputy problem: another account's resource cannot
    get the service to assume this role.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service_principal},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": source_arn},
                    },
                }
            ],
        }
    )
