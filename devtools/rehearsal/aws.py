"""The emulated account as a client sees it: boto3 clients and the CDK CLI's environment."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, List

from devtools import CHECKOUT
from devtools.rehearsal.emulator import scrubbed_env
from devtools.rehearsal.settings import REGION


def aws_env(endpoint_url: str, workdir: Path) -> Dict[str, str]:
    """The environment of every CDK CLI call: dummy credentials, the emulator, no profiles."""
    env = scrubbed_env()
    bin_dirs = [str(Path(sys.executable).parent), str(CHECKOUT / "node_modules" / ".bin")]
    env.update({
        "PATH": os.pathsep.join(bin_dirs + [env.get("PATH", "")]),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_HOME": str(workdir / "cdk-home"),
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CI": "true",
        "FORCE_COLOR": "0",
        "NO_COLOR": "1",
    })
    return env


def clients(endpoint_url: str) -> "EmulatorClients":
    return EmulatorClients(endpoint_url)


class EmulatorClients:
    """boto3 clients pointed at the emulator, created on first use."""

    def __init__(self, endpoint_url: str) -> None:
        import boto3
        from botocore.config import Config

        self._session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        self._endpoint_url = endpoint_url
        self._config = Config(retries={"max_attempts": 2, "mode": "standard"},
                              connect_timeout=5, read_timeout=30)
        self._cache: Dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        name = service.rstrip("_").replace("_", "-")
        if name not in self._cache:
            self._cache[name] = self._session.client(
                name, endpoint_url=self._endpoint_url, config=self._config)
        return self._cache[name]


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> List[Any]:
    if client.can_paginate(operation):
        items: List[Any] = []
        for page in client.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get(key, []))
        return items
    return client.__getattribute__(operation)(**kwargs).get(key, [])
