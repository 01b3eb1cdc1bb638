"""The project's CDK bootstrap template: CDK's own, plus the one permission the serving stack needs.

The serving stack reads the approved model through a template parameter of type
``AWS::SSM::Parameter::Value<String>`` (infra/serving.py). CloudFormation resolves such a
parameter during CreateChangeSet with the caller's credentials, and with ``cdk deploy`` the
caller is the bootstrap's deploy role, which CDK's template lets read only its own version
parameter (statement ``ReadVersion``: "CreateChangeSet uses this to evaluate any SSM
parameters"). A serving deploy after a default ``cdk bootstrap`` therefore fails with
"AccessDenied ... ssm:GetParameters" (aws/aws-cdk#20959).

This module writes ``infra/bootstrap-template.yaml``: the template of the pinned CDK CLI
(``node_modules/aws-cdk/lib/api/bootstrap/bootstrap-template.yaml``) with one statement added
to the deploy role, reading the serving-model parameters of any project and stage
(``/<project>/<stage>/model/serving``, headlines/naming.py), and its own bootstrap variant.
``make bootstrap`` deploys it (``cdk bootstrap --template``); a test keeps the file equal to
what this module makes from the pinned template, so a CDK upgrade cannot leave it stale.

    python -m infra.bootstrap_template        # rewrite infra/bootstrap-template.yaml
"""
from __future__ import annotations

import sys
from pathlib import Path

from headlines.project import ROOT

PINNED_TEMPLATE = ROOT / "node_modules" / "aws-cdk" / "lib" / "api" / "bootstrap" / "bootstrap-template.yaml"
PROJECT_TEMPLATE = ROOT / "infra" / "bootstrap-template.yaml"
#: The SSM parameters CloudFormation resolves with the deploy role: every serving-model pointer.
SERVING_PARAMETERS = "parameter/*/model/serving"
STATEMENT_SID = "ReadServingModelParameters"
VARIANT = "headlines-mlops: CDK default resources, deploy role reads */model/serving SSM parameters"

_AFTER = "              - Sid: Refactor\n"
_STATEMENT = f"""              - Sid: {STATEMENT_SID}
                # headlines-mlops: the serving stack's AWS::SSM::Parameter::Value<String> parameter
                # (/<project>/<stage>/model/serving), which CreateChangeSet resolves with this role.
                Effect: Allow
                Action:
                  - ssm:GetParameter
                  - ssm:GetParameters
                Resource:
                  - Fn::Sub: "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:{SERVING_PARAMETERS}"
"""
_VARIANT_LINE = "    Default: 'AWS CDK: Default Resources'\n"


def project_template(pinned: str) -> str:
    """The pinned template with the statement and the variant (ValueError if its shape changed)."""
    for anchor in (_AFTER, _VARIANT_LINE):
        if pinned.count(anchor) != 1:
            raise ValueError(f"the pinned bootstrap template changed shape: {anchor.strip()!r} is not there once")
    return pinned.replace(_AFTER, _STATEMENT + _AFTER).replace(_VARIANT_LINE, f"    Default: '{VARIANT}'\n")


def main() -> int:
    if not PINNED_TEMPLATE.is_file():
        print(f"error: {PINNED_TEMPLATE} is missing: run make install (npm ci) first", file=sys.stderr)
        return 2
    PROJECT_TEMPLATE.write_text(project_template(PINNED_TEMPLATE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {Path(PROJECT_TEMPLATE).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
