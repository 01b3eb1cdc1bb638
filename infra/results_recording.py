"""What a function that records results needs (functions/api/results_recorder.py): the
delivery stream's name and ``firehose:PutRecordBatch`` on it, whether the text is stored, and,
where it is not (``results.store_text: false``), the hash key's secret and the right to read
it (Secrets Manager, encrypted with the project key)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms


@dataclass(frozen=True)
class RecordingTarget:
    stream_name: str
    stream_arn: str
    store_text: bool
    key: kms.IKey  # the hash key secret's encryption key
    hash_key_secret_arn: Optional[str] = None  # set when the text is not stored

    def environment(self) -> Dict[str, str]:
        env = {"RESULTS_STREAM": self.stream_name, "RESULTS_STORE_TEXT": "true" if self.store_text else "false"}
        if not self.store_text and self.hash_key_secret_arn:
            env["RESULTS_HASH_KEY_SECRET"] = self.hash_key_secret_arn
        return env

    def grant(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(iam.PolicyStatement(actions=["firehose:PutRecordBatch"], resources=[self.stream_arn]))
        if not self.store_text and self.hash_key_secret_arn:
            role.add_to_principal_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"],
                                                             resources=[self.hash_key_secret_arn]))
            region = Stack.of(role).region
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=["kms:Decrypt"], resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}))
