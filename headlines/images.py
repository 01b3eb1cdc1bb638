"""SageMaker container image URIs, resolved per region with the SageMaker SDK's lookup.

``sagemaker.core.image_uris`` ships the account/region table of the AWS images, so this works
offline: at synth time (infra/stacks.py) and in ``headlines preflight``, which reports a region
without one of the images before anything is deployed. The region must be concrete (not a
CloudFormation token). The SDK is part of the ``cdk`` extra; it is imported only here, when an
image is looked up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

#: The images the project uses, in the order of ``Images``' fields.
IMAGE_NAMES: Tuple[str, ...] = ("blazingtext", "mxnet_training", "mxnet_inference")


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


def resolve_image(name: str, props: ImageProps, region: str) -> str:
    """One of ``IMAGE_NAMES``; ValueError when the SDK's table has no such image for the region."""
    if not region or region.startswith("${Token"):
        raise ValueError("the SageMaker image lookup needs a concrete region (set CDK_DEFAULT_REGION or -c region=...)")
    from sagemaker.core import image_uris  # heavy import: only when an image is looked up

    framework = dict(version=props.framework_version, py_version=props.py_version)
    if name == "blazingtext":
        return image_uris.retrieve("blazingtext", region)
    if name == "mxnet_training":
        # The GPU switch picks a GPU instance type, and the lookup its GPU image.
        return image_uris.retrieve("mxnet", region, instance_type=props.training_instance_type, image_scope="training", **framework)
    if name == "mxnet_inference":
        # Serverless endpoints run on CPU: resolve the CPU image with the instance type either way.
        return image_uris.retrieve("mxnet", region, instance_type=props.inference_instance_type, image_scope="inference", **framework)
    raise ValueError(f"unknown image {name} (known: {', '.join(IMAGE_NAMES)})")


def resolve_images(props: ImageProps, region: str) -> Images:
    return Images(**{name: resolve_image(name, props, region) for name in IMAGE_NAMES})
