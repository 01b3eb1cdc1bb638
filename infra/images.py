"""SageMaker container image URIs, resolved per region with the SageMaker SDK's lookup.

``sagemaker.core.image_uris`` ships the account/region table of the AWS images, so this works
offline at synth time; the region must be concrete (not a CloudFormation token).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)[:@].+$"
)


@dataclass(frozen=True)
class Images:
    blazingtext: str
    mxnet_training: str
    mxnet_inference: str


@dataclass(frozen=True)
class ImageProps:
    """What picks the images: the MXNet framework and the instance types (CPU or GPU image)."""

    framework_version: str
    py_version: str
    training_instance_type: str
    inference_instance_type: str


def resolve_images(props: ImageProps, region: str) -> Images:
    if not region or region.startswith("${Token"):
        raise ValueError("the SageMaker image lookup needs a concrete region (set CDK_DEFAULT_REGION or -c region=...)")
    from sagemaker.core import image_uris  # heavy import: only at synth

    framework = dict(version=props.framework_version, py_version=props.py_version)
    return Images(
        blazingtext=image_uris.retrieve("blazingtext", region),
        mxnet_training=image_uris.retrieve(
            # The GPU switch picks a GPU instance type, and the lookup its GPU image.
            "mxnet", region, instance_type=props.training_instance_type, image_scope="training",
            **framework
        ),
        mxnet_inference=image_uris.retrieve(
            # Serverless endpoints run on CPU: resolve the CPU image with the instance type either way.
            "mxnet", region, instance_type=props.inference_instance_type, image_scope="inference", **framework
        ),
    )


def ecr_repository_arn(image_uri: str, partition: str) -> str:
    """``arn:<partition>:ecr:<region>:<account>:repository/<repo>`` of an ECR image URI."""
    match = _ECR_URI.match(image_uri)
    if not match:
        raise ValueError(f"not an ECR image URI: {image_uri}")
    return f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repo']}"
