"""SageMaker container image URIs: the lookup (headlines/images.py, shared with ``headlines
preflight``) and the ECR repository ARN of an image, which the execution role may pull from.
"""
from __future__ import annotations

import re

from headlines.images import ImageProps, Images, resolve_images

__all__ = ["ImageProps", "Images", "ecr_repository_arn", "resolve_images"]

_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)[:@].+$"
)


def ecr_repository_arn(image_uri: str, partition: str) -> str:
    """``arn:<partition>:ecr:<region>:<account>:repository/<repo>`` of an ECR image URI."""
    match = _ECR_URI.match(image_uri)
    if not match:
        raise ValueError(f"not an ECR image URI: {image_uri}")
    return f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repo']}"
