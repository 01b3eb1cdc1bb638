"""A stand-in for the providers of the app's custom resources, which moto cannot run."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Tuple

from devtools.rehearsal.aws import EmulatorClients
from devtools.rehearsal.settings import REGION
from devtools.rehearsal.templates import is_custom_resource


class CustomResourceResponder:
    """Answers SUCCESS for the app's custom resources, which moto cannot run.

    moto hands a custom resource to its Lambda function, which it can only run in Docker; the
    stack would wait forever. While a CDK CLI command runs, this thread watches the stacks and,
    for each custom resource of a stack in progress, sends the response a provider would send
    to moto's response URL. The provider's own code is therefore not rehearsed
    (docs/rehearsal.md): e.g. CDK's auto-delete of bucket objects.

    moto creates a stack's resources inside the CreateStack call and evaluates readiness when a
    response arrives, creating lazily whatever is missing: a response that lands while the
    call is still running races it. So the first response waits until the stack has been in
    progress for ``settle`` seconds, and responses are repeated every ``settle`` seconds while
    it stays in progress (a repeated SUCCESS changes nothing). Only ListStacks and GetTemplate
    are called here: describing a stack makes moto evaluate (and create) what it refers to.
    """

    def __init__(self, endpoint_url: str, aws: "EmulatorClients", settle: float = 2.0) -> None:
        import threading

        self.endpoint_url = endpoint_url
        self.aws = aws
        self.settle = settle
        self.answered: List[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="custom-resource-responder", daemon=True)
        self._first_seen: Dict[Tuple[str, str], float] = {}
        self._last_answer: Dict[Tuple[str, str], float] = {}

    def __enter__(self) -> "CustomResourceResponder":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._poll()
            except Exception:  # noqa: BLE001 - the emulator may be busy; try again
                continue

    def _poll(self) -> None:
        now = time.monotonic()
        for summary in self.aws.cloudformation.list_stacks()["StackSummaries"]:
            status = summary["StackStatus"]
            if status not in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"):
                continue
            key = (summary["StackId"], status)
            first = self._first_seen.setdefault(key, now)
            if now - first < self.settle or now - self._last_answer.get(key, 0.0) < self.settle:
                continue
            self._last_answer[key] = now
            body = self.aws.cloudformation.get_template(StackName=summary["StackId"])["TemplateBody"]
            template = json.loads(body) if isinstance(body, str) else body
            for logical, resource in template.get("Resources", {}).items():
                if is_custom_resource(resource.get("Type", "")):
                    self._respond(summary["StackId"], logical)

    def _respond(self, stack_id: str, logical: str) -> None:
        body = json.dumps({"Status": "SUCCESS", "StackId": stack_id, "LogicalResourceId": logical,
                           "PhysicalResourceId": logical, "RequestId": "rehearsal", "Data": {}}).encode()
        url = f"{self.endpoint_url}/cloudformation_{REGION}/cfnresponse?stack={urllib.parse.quote(stack_id)}"
        request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5):
                name = f"{stack_id.split('/')[1]}/{logical}"
                if name not in self.answered:
                    self.answered.append(name)
        except (urllib.error.URLError, OSError):
            pass
