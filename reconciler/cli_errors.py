"""What the command line says about an error: one ``error: <what> (<what to do>)`` line.

:func:`describe_error` is pure: it turns any exception into the text after ``error: ``. The
project's own errors already say what is wrong and what to do; the errors of the libraries the
commands call (botocore, the OS, YAML, pydantic) are translated here into the same shape. An
exception nobody expected is named by its type, with a hint to rerun with ``--debug``.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from desired_state.errors import EcsGitopsError
from reconciler.errors import UnexpectedJobError

DEBUG_HINT = "rerun with --debug for the traceback"
AWS_CREDENTIALS_HINT = (
    "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an IAM role provides credentials"
)
AWS_REGION_HINT = "set AWS_DEFAULT_REGION, or a region in the AWS config file; boto3 does not read AWS_REGION"
_CREDENTIAL_CODES = (
    "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
    "SignatureDoesNotMatch", "AuthFailure", "InvalidAccessKeyId", "InvalidToken",
)
_NOT_FOUND_CODES = (
    "ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "NotFound", "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue", "NotFoundException", "TargetGroupNotFound", "ListenerNotFound",
)


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of spaces folded, for messages the project did not write."""
    return " ".join(str(text).split())


def validation_problems(exc: ValidationError) -> str:
    """pydantic's errors as ``field: reason`` pairs, without its "Value error," prefix or input dumps."""
    problems = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "<value>"
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        problems.append(f"{location}: {message}")
    return "; ".join(problems)


def _aws_error(exc: BaseException) -> str | None:
    try:
        from botocore import exceptions as boto
    except ImportError:  # pragma: no cover - botocore is a dependency; without it there are no AWS errors
        return None
    if isinstance(exc, boto.NoCredentialsError):
        return f"no AWS credentials found ({AWS_CREDENTIALS_HINT})"
    if isinstance(exc, boto.PartialCredentialsError):
        return f"the AWS credentials are incomplete: {one_line(exc)} ({AWS_CREDENTIALS_HINT})"
    if isinstance(exc, boto.NoRegionError):
        return f"no AWS region configured ({AWS_REGION_HINT})"
    if isinstance(exc, boto.ProfileNotFound):
        return f"AWS profile '{exc.kwargs.get('profile', '')}' not found (fix AWS_PROFILE or add the profile to the AWS config file)"
    if isinstance(exc, boto.EndpointConnectionError):
        return f"cannot reach AWS at {exc.kwargs.get('endpoint_url', 'its endpoint')} (check the network, any proxy, and the region)"
    if isinstance(exc, (boto.ConnectTimeoutError, boto.ReadTimeoutError, boto.ConnectionError)):
        return f"the connection to AWS failed: {one_line(exc)} (check the network and any proxy, then run the command again)"
    if isinstance(exc, boto.ClientError):
        error: dict[str, Any] = exc.response.get("Error", {}) or {}
        code, message = str(error.get("Code", "unknown")), one_line(error.get("Message", ""))
        operation = exc.operation_name
        if code in _CREDENTIAL_CODES:
            return f"AWS refused the credentials in {operation} ({code}: {message}) (refresh or fix the AWS credentials)"
        if code.startswith("AccessDenied") or code in ("UnauthorizedOperation", "Forbidden", "403"):
            return f"AWS denied {operation} ({code}: {message}) (grant this identity the permission, or use the reconciler's role)"
        if code in _NOT_FOUND_CODES or code == "404":
            return f"AWS has no such resource in {operation} ({code}: {message}) (check the names in the settings' aws section and the region)"
        return f"AWS call {operation} failed ({code}: {message}) ({DEBUG_HINT})"
    if isinstance(exc, boto.BotoCoreError):
        return f"the AWS client failed: {one_line(exc)} (check the AWS configuration and the settings' aws section)"
    return None


def describe_error(exc: BaseException) -> str:
    """The text after ``error: `` for ``exc``; it may span lines only for the project's own detailed errors."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (whatever was in progress stopped there; run the command again to finish it)"
    if isinstance(exc, UnexpectedJobError) and exc.__cause__ is not None:
        # The converger recorded the job and wrapped what it raised; a person needs the cause said
        # the way it would be said on its own (no credentials, a path that is a file, ...).
        return describe_error(exc.__cause__)
    if isinstance(exc, EcsGitopsError):
        # The project's messages say what is wrong and what to do; a desired-state error lists
        # every problem on its own line, which the caller indents under the error line.
        return str(exc) or type(exc).__name__
    aws = _aws_error(exc)
    if aws is not None:
        return aws
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or one_line(exc) or type(exc).__name__
        return f"{where}{reason} (check the path, that it exists and that you may use it)"
    if isinstance(exc, yaml.YAMLError):
        return f"not valid YAML: {one_line(exc)} (fix the file's syntax)"
    if isinstance(exc, ValidationError):
        return f"invalid {exc.title}: {validation_problems(exc)} (fix the values named)"
    return f"unexpected {type(exc).__name__}: {one_line(exc)}; {DEBUG_HINT}"


def error_lines(exc: BaseException) -> list[str]:
    """One ``error:`` line, then any detail lines indented beneath it."""
    first, *rest = describe_error(exc).splitlines() or [type(exc).__name__]
    return [f"error: {first}", *(f"  {line.strip()}" for line in rest if line.strip())]
