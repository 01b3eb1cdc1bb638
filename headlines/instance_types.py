"""What SageMaker allows per ML instance type: which types exist for each use, which carry
local (instance store) storage.

The lists of valid types are botocore's SageMaker service model (the enums of
``TrainingInstanceType``, ``ProductionVariantInstanceType``, ``TransformInstanceType`` and the notebook's
``InstanceType``),
so a typo fails at synthesis with one line instead of at CreateTrainingJob after a paid
BlazingText job. Which types have instance storage is not in the service model; the API
reference states the rule that depends on it:

    "Certain Nitro-based instances include local storage, dependent on the instance type. Local
    storage volumes are encrypted using a hardware module on the instance. You can't request a
    VolumeKmsKeyId when using an instance type with local storage." (ResourceConfig; the same
    for CreateEndpointConfig's KmsKeyId: "the call to CreateEndpointConfig fails")

EC2 names instance store in a family's attributes with ``d`` (c5d, m5d, r5d, c6gd, g4dn,
p3dn, p4d, p4de: "Amazon EC2 instance type naming conventions"); the accelerated families
below carry NVMe instance store without the letter (ResourceConfig.VolumeSizeInGB: "ML instance
families with the NVMe-type instance storage include ml.p4d, ml.g4dn, and ml.g5"; the EC2
specifications of g5, g6, p5, trn1...).
"""
from __future__ import annotations

import difflib
import re
from functools import lru_cache
from typing import Literal, Tuple

Use = Literal["training", "endpoint", "notebook", "transform"]

#: The botocore shape whose enum lists the instance types of each use.
_SHAPES = {"training": "TrainingInstanceType", "endpoint": "ProductionVariantInstanceType", "notebook": "InstanceType",
           "transform": "TransformInstanceType"}
_USE_WORDS = {"training": "training job", "endpoint": "real-time endpoint", "notebook": "notebook instance",
              "transform": "batch transform job"}

#: Families with NVMe instance store whose names carry no "d".
NVME_FAMILIES_WITHOUT_D = frozenset({
    "dl1", "g5", "g6", "g6e", "gr6", "g7", "g7e", "p5", "p5e", "p5en", "p6-b200", "p6-b300", "p6e-gb200",
    "trn1", "trn1n", "trn2",
})

#: "AL2023 does not support ml.p2, ml.p3, ml.p3dn, ml.inf1, and ml.g3 instances" (SageMaker
#: developer guide, "AL2023 notebook instances"); the notebook runs notebook-al2023-v1.
NOT_ON_AL2023_NOTEBOOKS = frozenset({"p2", "p3", "p3dn", "inf1", "g3"})

_FAMILY = re.compile(r"^ml\.(?P<family>(?P<series>[a-z]+)(?P<generation>\d+)(?P<attributes>[a-z0-9-]*))\.[a-z0-9]+$")


def family(instance_type: str) -> str:
    """``ml.g4dn.xlarge`` -> ``g4dn``."""
    match = _FAMILY.match(instance_type)
    if not match:
        raise ValueError(f"{instance_type} is not an ML instance type (ml.<family>.<size>)")
    return match.group("family")


def has_instance_storage(instance_type: str) -> bool:
    """True for the types with local (instance store) storage: SageMaker refuses a volume KMS key there."""
    match = _FAMILY.match(instance_type)
    if not match:
        raise ValueError(f"{instance_type} is not an ML instance type (ml.<family>.<size>)")
    attributes = match.group("attributes").split("-")[0]
    return "d" in attributes or match.group("family") in NVME_FAMILIES_WITHOUT_D


def accepts_volume_kms_key(instance_type: str) -> bool:
    """Whether ResourceConfig.VolumeKmsKeyId / EndpointConfig.KmsKeyId may be set for this type."""
    return not has_instance_storage(instance_type)


@lru_cache(maxsize=None)
def known_types(use: Use) -> Tuple[str, ...]:
    """Every instance type SageMaker's API accepts for ``use`` (botocore's service model)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for(_SHAPES[use]).enum)


def check_instance_type(instance_type: str, use: Use) -> str:
    """``instance_type`` when SageMaker accepts it for ``use``; else ValueError with one line."""
    known = known_types(use)
    if instance_type in known:
        if use == "notebook" and family(instance_type) in NOT_ON_AL2023_NOTEBOOKS:
            raise ValueError(f"{instance_type}: Amazon Linux 2023 notebook instances (notebook-al2023-v1) do not run "
                             f"the {family(instance_type)} family")
        return instance_type
    near = difflib.get_close_matches(instance_type, known, n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    raise ValueError(f"{instance_type} is not a SageMaker {_USE_WORDS[use]} instance type{hint}")
