"""Readings of deployed resources that several checks share: roles, resolved values, routes, states."""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterator, Optional, Set, Tuple

from devtools.rehearsal.aws import EmulatorClients
from devtools.rehearsal.basics import name_of
from devtools.rehearsal.deployed import Deployed


def service_principals(document: Any) -> Set[str]:
    if isinstance(document, str):
        document = json.loads(document)
    principals: Set[str] = set()
    for statement in document.get("Statement", []):
        service = statement.get("Principal", {}).get("Service", [])
        for item in service if isinstance(service, list) else [service]:
            if isinstance(item, str):
                principals.add(item)
            elif isinstance(item, dict) and "Fn::Join" in item:
                principals.add("".join(p if isinstance(p, str) else "{region}" for p in item["Fn::Join"][1]))
    return principals


def find_role(aws: EmulatorClients, role: str) -> Optional[Dict[str, Any]]:
    try:
        return aws.iam.get_role(RoleName=name_of(role))["Role"]
    except Exception:  # noqa: BLE001 - any failure to read it means it is not there
        return None


def intrinsic_ok(value: Any, found: Optional[str], deployed: Deployed, stack: str) -> Tuple[bool, str]:
    """Does a deployed value match what a template value (literal or reference) should resolve to?"""
    if found is None:
        return False, "absent"
    if isinstance(value, (str, int, float, bool)):
        literal = json.dumps(value) if isinstance(value, bool) else str(value)
        if isinstance(value, bool):
            literal = literal.lower()
        return found == literal, found
    if isinstance(value, dict) and "Ref" in value:
        physical = deployed.physical(stack, value["Ref"])
        return bool(physical) and found == physical, found
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"][0] if isinstance(value["Fn::GetAtt"], list) else value["Fn::GetAtt"].split(".")[0]
        name = name_of(deployed.physical(stack, target))
        return bool(name) and bool(found) and (name in found or found in deployed.physical(stack, target)), found
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        export = value["Fn::ImportValue"]
        wanted = deployed.exports.get(export) if isinstance(export, str) else None
        return wanted is not None and found == wanted, found
    return bool(found) and found not in ("None", "null") and "${" not in found, found


def describe_value(value: Any) -> str:
    if isinstance(value, dict):
        key = next(iter(value))
        inner = value[key]
        if key == "Ref":
            return f"<Ref {inner}>"
        if key == "Fn::GetAtt":
            return f"<GetAtt {'.'.join(inner) if isinstance(inner, list) else inner}>"
        if key == "Fn::ImportValue":
            return f"<ImportValue {inner if isinstance(inner, str) else '...'}>"
        return f"<{key} ...>"
    return str(value).lower() if isinstance(value, bool) else str(value)


def rest_api_routes(aws: EmulatorClients, api_id: str) -> Dict[Tuple[str, str], Dict[str, Any]]:
    routes = {}
    paginator = aws.apigateway.get_paginator("get_resources")
    for page in paginator.paginate(restApiId=api_id):
        for item in page["items"]:
            for method in item.get("resourceMethods", {}) or {}:
                routes[(method, item["path"])] = {"resource": item["id"]}
    return routes


def state_machine_definition(aws: EmulatorClients, arn: str) -> Dict[str, Any]:
    return json.loads(aws.stepfunctions.describe_state_machine(stateMachineArn=arn)["definition"])


def all_states(definition: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    states = dict(definition.get("States", {}))
    for state in list(states.values()):
        for branch in state.get("Branches", []) + ([state["Iterator"]] if "Iterator" in state else []) \
                + ([state["ItemProcessor"]] if "ItemProcessor" in state else []):
            states.update(all_states(branch))
    return states


def s3_uris(value: Any, key: str = "") -> Iterator[Tuple[str, str]]:
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            yield from s3_uris(inner, inner_key)
    elif isinstance(value, list):
        for inner in value:
            yield from s3_uris(inner, key)
    elif isinstance(value, str) and key in ("S3Uri", "S3OutputPath", "S3DataSource", "ModelDataUrl"):
        yield key, value


def s3_object_exists(aws: EmulatorClients, uri: str) -> bool:
    match = re.match(r"s3://([^/]+)/(.+)", uri or "")
    if not match:
        return False
    try:
        aws.s3.head_object(Bucket=match.group(1), Key=match.group(2))
        return True
    except Exception:  # noqa: BLE001 - any failure to read it means it is not there
        return False
