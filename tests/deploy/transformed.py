"""template.yaml as CloudFormation would deploy it: transformed by the SAM translator (what `sam deploy`
submits), then its conditions, parameters and pseudo parameters resolved for one set of parameter values.

No CloudFormation here: :func:`resolve` implements the intrinsics the template uses (Ref, Fn::Sub,
Fn::If, Fn::Equals, Fn::GetAtt, Fn::Join, Fn::Split, AWS::NoValue) as the CloudFormation User Guide
describes them, and refuses any other. A reference to a resource stays a readable placeholder
(``<StateBucket>``, ``<StateBucket.Arn>``) so a test can see what points where.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.deploy.cfn import load_template

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"  # the intake samples' account and region
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION, "AWS::StackName": "ecs-gitops", "AWS::URLSuffix": "amazonaws.com"}
NO_VALUE = object()


def raw_template() -> dict[str, Any]:
    return load_template()


class _NoIamDouble:
    """Stands in for the translator's IAM managed-policy lookup (an AWS call; there is no AWS here)."""

    def load(self) -> dict[str, str]:
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        }


def sam_transform(parameters: dict[str, Any]) -> dict[str, Any]:
    """The translator's output for ``parameters``; the caller sets AWS_DEFAULT_REGION."""
    from samtranslator.translator.transform import transform

    document = copy.deepcopy(raw_template())
    # `sam package` uploads the code; the translator needs an S3 location in its place.
    document["Resources"]["IntakeFunction"]["Properties"]["CodeUri"] = "s3://example-bucket/intake.zip"
    return transform(document, parameters, _NoIamDouble())


def resolve(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """``template`` with the resources and outputs its conditions leave out removed and every intrinsic evaluated."""
    values = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    values.update(parameters)
    for name, spec in template.get("Parameters", {}).items():
        if spec.get("Type") == "CommaDelimitedList" and isinstance(values[name], str):
            values[name] = values[name].split(",")
    context = _Context(values, template)
    resources = {
        name: context.value({k: v for k, v in resource.items() if k != "Condition"})
        for name, resource in template["Resources"].items()
        if context.condition(resource.get("Condition"))
    }
    outputs = {
        name: context.value({k: v for k, v in output.items() if k != "Condition"})
        for name, output in template.get("Outputs", {}).items()
        if context.condition(output.get("Condition"))
    }
    return {"Resources": resources, "Outputs": outputs, "Parameters": values}


class _Context:
    def __init__(self, parameters: dict[str, Any], template: dict[str, Any]):
        self.parameters = parameters
        self.conditions = template.get("Conditions", {})
        self.resources = template["Resources"]

    def condition(self, name: str | None) -> bool:
        if name is None:
            return True
        result = self.value(self.conditions[name])
        assert isinstance(result, bool), f"condition {name} is not a boolean: {result!r}"
        return result

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, arg)] = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return left == right
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"<{logical}.{attribute}>"
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.value(items))
            if key == "Fn::Split":
                separator, text = arg
                return str(self.value(text)).split(separator)
            if key.startswith("Fn::") or key == "Condition":
                raise ValueError(f"intrinsic {key} is not one this resolver implements")
        items = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in items.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return f"<{name}>"
        raise KeyError(f"Ref to {name}, which is no parameter or resource")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        resolved = {k: self.value(v) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match[1]
            if name in resolved:
                return str(resolved[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                return f"<{name}>"
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


# The two ways to deploy: everything created by the template (and the audit archive on), or the
# operator's own bucket, key and deploy policy (and no archive).
CREATED = {"WorkerImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/worker@sha256:" + "0" * 64,
           "WorkerSubnetIds": ["subnet-1", "subnet-2"], "WorkerVpcId": "vpc-1", "AuditArchive": "enabled"}
GIVEN = {**CREATED, "AuditArchive": "disabled", "StateBucketName": "my-pulumi-state",
         "StateKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
         "DeployPolicyArn": "arn:aws:iam::123456789012:policy/my-deploy-policy"}
SCENARIOS = {"created": CREATED, "given": GIVEN}
