"""What a destroy left behind, each leftover explained by a known gap or not."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from devtools.rehearsal.aws import EmulatorClients
from devtools.rehearsal.basics import name_of
from devtools.rehearsal.deployed import Deployed
from devtools.rehearsal.inventory import INVENTORY, INVENTORY_TYPES, Inventory
from devtools.rehearsal.templates import StackTemplate, references

# Owned resource types that no inventory kind lists (moto cannot list them): probed one by one.
PROBES: Dict[str, Callable[[EmulatorClients, str], Any]] = {
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": lambda a, p: a.sagemaker.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name_of(p)),
}


@dataclass
class Owned:
    """A physical resource the app's stacks created at some point (deploy or update)."""

    stack: str
    logical: str
    resource_type: str
    physical: str


def owned_resources(deployed: Deployed) -> List[Owned]:
    owned = []
    for stack, found in deployed.resources.items():
        for logical, (rtype, physical) in found.items():
            if physical:
                owned.append(Owned(stack, logical, rtype, physical))
    return owned


def probe_owned(aws: EmulatorClients, owned: Sequence[Owned]) -> List["Leftover"]:
    """Owned resources of the PROBES types that still answer after destroy."""
    leftovers = []
    for item in owned:
        probe = PROBES.get(item.resource_type)
        if probe is None:
            continue
        try:
            probe(aws, item.physical)
        except Exception:  # noqa: BLE001 - not found: gone, as it should be
            continue
        leftovers.append(Leftover(item.resource_type, item.physical, None, f"deployed as {item.stack}/{item.logical}"))
    return leftovers


def referenced_by_outputs(stack: StackTemplate) -> Set[str]:
    """Logical ids an output refers to, directly or through what those resources refer to."""
    todo = set(references(stack.template.get("Outputs", {})))
    seen: Set[str] = set()
    while todo:
        logical = todo.pop()
        if logical in seen or logical not in stack.resources:
            continue
        seen.add(logical)
        todo |= references(stack.resources[logical].get("Properties", {}))
    return seen


@dataclass
class Leftover:
    kind: str
    ident: str
    gap: Optional[str]  # a KNOWN_GAPS key, or None when nothing explains it
    detail: str


def classify_leftovers(before: Inventory, deployed: Inventory, after: Inventory, stacks: Sequence[StackTemplate],
                       owned: Sequence[Owned]) -> Tuple[List[Leftover], List[str]]:
    """What destroy left behind, each explained by a known gap or not; and what went missing.

    ``before``: the account before the deploy; ``deployed``: just before the destroy;
    ``after``: after it.
    """
    by_physical: Dict[Tuple[str, str], Owned] = {}
    for item in owned:
        by_physical[(item.resource_type, item.physical)] = item
        by_physical[(item.resource_type, name_of(item.physical))] = item
    functions = {name_of(o.physical): o for o in owned if o.resource_type == "AWS::Lambda::Function"}
    templates = {s.name: s for s in stacks}
    leftovers: List[Leftover] = []
    for kind in INVENTORY:
        rtype = INVENTORY_TYPES.get(kind, "")
        for ident in sorted(after.get(kind, set()) - before.get(kind, set())):
            owner = by_physical.get((rtype, ident)) or by_physical.get((rtype, name_of(ident)))
            if owner is not None:
                resource = templates.get(owner.stack, StackTemplate(owner.stack, {})).resources.get(owner.logical, {})
                if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate"):
                    leftovers.append(Leftover(kind, ident, "retained", f"{owner.stack}/{owner.logical}"))
                elif owner.resource_type == "AWS::ApiGateway::RestApi":
                    leftovers.append(Leftover(kind, ident, "restapi-not-deleted", f"{owner.stack}/{owner.logical}"))
                else:
                    leftovers.append(Leftover(kind, ident, None, f"deployed as {owner.stack}/{owner.logical}"))
                continue
            if kind == "log group" and ident.startswith("/aws/lambda/") and ident[len("/aws/lambda/"):] in functions:
                function = functions[ident[len("/aws/lambda/"):]]
                leftovers.append(Leftover(kind, ident, "runtime-log-group",
                                          f"of {function.stack}/{function.logical}"))
                continue
            # Not there while deployed, there after the destroy: made during the delete. moto does
            # that for what a deleted stack's outputs refer to (the CLI describes the stack).
            appeared = ident not in deployed.get(kind, set())
            recreated = sorted({f"{stack.name}/{logical}" for stack in stacks for logical in referenced_by_outputs(stack)
                                if stack.resources[logical].get("Type") == rtype})
            named = [r for r in recreated if name_of(ident).lower().startswith(r.replace("/", "-").lower() + "-")]
            if appeared and (named or recreated):
                leftovers.append(Leftover(kind, ident, "recreated-by-outputs",
                                          (named or [" or ".join(recreated)])[0] + ", appeared during the destroy"))
            else:
                leftovers.append(Leftover(kind, ident, None, "appeared during the destroy" if appeared
                                          else "not created by the app's stacks"))
    missing = [f"{kind}: {ident}" for kind in INVENTORY
               for ident in sorted(before.get(kind, set()) - after.get(kind, set()))]
    return leftovers, missing
