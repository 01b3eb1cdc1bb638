"""IAM's evaluation of identity policies for one action on one resource, for ``headlines preflight``.

``headlines preflight`` asks IAM itself first (``iam:SimulatePrincipalPolicy``); where that call is
denied or not implemented, it reads a role's policies and evaluates them here. This is the
part of IAM's logic that decides such a question: an explicit Deny wins, then an Allow (inside
the permissions boundary, when there is one); ``Action``/``NotAction`` match case-insensitively,
``Resource``/``NotResource`` case-sensitively, with IAM's wildcards ``*`` and ``?``. Conditions
are not evaluated (a statement with one counts as if it applied; the decision's notes name it),
and SCPs, session policies and resource policies are not seen. Small enough to keep here rather
than take a policy-simulator dependency into the command line's environment.
"""
from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicitDeny", "implicitDeny"  # SimulatePrincipalPolicy's words


@dataclass(frozen=True)
class Decision:
    """IAM's answer for one action on one resource: allowed, explicitDeny or implicitDeny."""

    decision: str
    notes: Tuple[str, ...] = ()
    #: Where a denial comes from when not from the identity policies: "boundary" (the permissions
    #: boundary) or "organization" (an SCP; IAM's simulation says so, the evaluation here cannot).
    denied_by: Optional[str] = None

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED


def _words(value: Any) -> List[str]:
    return [value] if isinstance(value, str) else [str(item) for item in (value or [])]


def wildcard_match(pattern: str, text: str, case_sensitive: bool) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one; nothing else is special. (Not
    fnmatch: it also reads ``[...]`` as a character class, which IAM does not.)"""
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, text, 0 if case_sensitive else re.IGNORECASE | re.DOTALL) is not None


def statement_matches(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    """Whether a statement speaks of this action on this resource (its Effect aside)."""
    if "Action" in statement:
        action_ok = any(wildcard_match(p, action, case_sensitive=False) for p in _words(statement["Action"]))
    else:
        action_ok = "NotAction" in statement and not any(
            wildcard_match(p, action, case_sensitive=False) for p in _words(statement["NotAction"]))
    if "Resource" in statement:
        resource_ok = any(wildcard_match(p, resource, case_sensitive=True) for p in _words(statement["Resource"]))
    else:
        resource_ok = "NotResource" in statement and not any(
            wildcard_match(p, resource, case_sensitive=True) for p in _words(statement["NotResource"]))
    return action_ok and resource_ok


def policy_document(document: Any) -> Dict[str, Any]:
    """A policy document as IAM's API returns it: a dict (boto3 decodes it) or URL-encoded JSON;
    ValueError when it is neither."""
    if isinstance(document, Mapping):
        return dict(document)
    parsed = json.loads(urllib.parse.unquote(str(document)))
    if not isinstance(parsed, dict):
        raise ValueError("a policy document is a JSON object")
    return parsed


def statements(document: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, Mapping) else list(found)


def evaluate(policies: Sequence[Tuple[str, Any]], action: str, resource: str,
             boundary: Optional[Tuple[str, Any]] = None) -> Decision:
    """The decision of identity policies (name, document) and an optional permissions boundary."""
    notes: List[str] = []

    def matching(named: Sequence[Tuple[str, Any]], effect: str) -> List[str]:
        found = []
        for name, document in named:
            for index, statement in enumerate(statements(policy_document(document))):
                if statement.get("Effect") == effect and statement_matches(statement, action, resource):
                    label = f"{name}/{statement.get('Sid') or index}"
                    found.append(label)
                    if statement.get("Condition"):
                        notes.append(f"{effect} {label} has a Condition, not evaluated here")
        return found

    if matching(list(policies) + ([boundary] if boundary else []), "Deny"):
        return Decision(EXPLICIT_DENY, tuple(notes))
    allowed = bool(matching(policies, "Allow"))
    if allowed and boundary is not None and not matching([boundary], "Allow"):
        notes.append(f"outside the permissions boundary {boundary[0]}")
        return Decision(IMPLICIT_DENY, tuple(notes), denied_by="boundary")
    return Decision(ALLOWED if allowed else IMPLICIT_DENY, tuple(notes))
