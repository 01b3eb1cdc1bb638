"""What ``cdk destroy`` keeps, and how long logs live: one decision per stage.

A prod stage retains its key, buckets and log groups (logs for a year); a dev stage deletes
everything (logs kept a month while it lives).
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs


@dataclass(frozen=True)
class Retention:
    removal: RemovalPolicy = RemovalPolicy.DESTROY
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH

    @property
    def retains_data(self) -> bool:
        return self.removal == RemovalPolicy.RETAIN

    @classmethod
    def of_stage(cls, retain_data: bool) -> "Retention":
        if retain_data:
            return cls(removal=RemovalPolicy.RETAIN, log_retention=logs.RetentionDays.ONE_YEAR)
        return cls()
