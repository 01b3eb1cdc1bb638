"""Retries of the pipeline's Task states: exponential backoff with full jitter.

Each list names the transient errors of one service integration (throttling, service
faults); a task's own failure (a Lambda exception, a failed training job) is not retried, nor
is a quota: ``SageMaker.ResourceLimitExceededException`` means the account's Service Quota for
the instance type is below what the job asks (often 0 in a new account), which no retry
changes; retrying only delays the failure, and a CreateTrainingJob retried under the same name
can end in a duplicate-name error that hides the cause. ``headlines preflight`` checks quotas.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn

LAMBDA_TRANSIENT_ERRORS = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
)
SAGEMAKER_TRANSIENT_ERRORS = (
    "SageMaker.AmazonSageMakerException",
    "SageMaker.ThrottlingException",
)
#: Errors that say a quota or limit is exhausted: never retried (the test holds every list to it).
QUOTA_ERRORS = (
    "SageMaker.ResourceLimitExceededException",
    "Lambda.CodeStorageExceededException",
    "Ssm.ParameterLimitExceededException",
    "Ssm.ParameterMaxVersionLimitExceededException",
)
SSM_TRANSIENT_ERRORS = ("Ssm.TooManyUpdatesException", "Ssm.ThrottlingException", "Ssm.InternalServerErrorException")


def backoff_retry(errors: Sequence[str], interval_s: int = 5, attempts: int = 5) -> Dict[str, Any]:
    """Keyword arguments of ``add_retry``: exponential backoff with full jitter."""
    return dict(
        errors=list(errors),
        interval=Duration.seconds(interval_s),
        max_attempts=attempts,
        backoff_rate=2.0,
        max_delay=Duration.minutes(5),
        jitter_strategy=sfn.JitterType.FULL,
    )
