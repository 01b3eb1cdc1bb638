"""The README's sequence as phases: deploy, approve, check, update, destroy, redeploy, destroy again."""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from devtools.rehearsal import registry
from devtools.rehearsal.aws import EmulatorClients, clients, pages
from devtools.rehearsal.basics import Deadline, Interrupted, RehearsalError, say, short
from devtools.rehearsal.cdk_cli import Cdk
from devtools.rehearsal.checks import run_checks, update_results
from devtools.rehearsal.custom_resources import CustomResourceResponder
from devtools.rehearsal.deployed import Deployed, read_deployed
from devtools.rehearsal.emulator import Emulator
from devtools.rehearsal.fixups import EMULATOR_FIXUPS, apply_fixups
from devtools.rehearsal.inventory import take_inventory
from devtools.rehearsal.known_gaps import KNOWN_GAPS
from devtools.rehearsal.leftovers import Owned, classify_leftovers, owned_resources, probe_owned
from devtools.rehearsal.preflight import preflight_phase
from devtools.rehearsal.results import Expectations, Result, expected_routes, report
from devtools.rehearsal.settings import (
    ACCOUNT,
    ARTIFACT_BUCKET,
    ARTIFACT_KEYS,
    NO_OVERRIDES,
    REGION,
    REHEARSAL_CONTEXT,
    UPDATE_OVERRIDES,
)
from devtools.rehearsal.staging import external_layers, placeholder_artifact, placeholder_version, tiny_zip
from devtools.rehearsal.templates import StackTemplate, read_assembly
from headlines.config import load_config
from headlines.naming import serving_model_parameter, serving_model_value

PHASES = ("start", "bootstrap", "preflight", "synth", "stage", "inventory", "deploy", "check", "update", "destroy", "teardown",
          "redeploy", "destroy_again", "teardown_again")
PHASE_TITLES = {
    "start": "start emulator", "bootstrap": "bootstrap", "preflight": "preflight", "synth": "synth",
    "stage": "stage model artifact and layers", "inventory": "inventory before", "deploy": "deploy",
    "check": "check", "update": "update", "destroy": "destroy", "teardown": "inventory after destroy",
    "redeploy": "deploy again after destroy", "destroy_again": "destroy again",
    "teardown_again": "inventory after the second destroy",
    "stop": "stop emulator",
}


def ssm_parameter_defaults(assembly: Path, stack: str) -> Dict[str, str]:
    """The template's SSM-typed parameters with their defaults, passed explicitly on deploy.

    On an update the CLI sends ``UsePreviousValue`` for a parameter left at its default; moto
    stores only parameters given on create and fails the update with a KeyError. Passing the
    default (the SSM parameter's name) is what CloudFormation would use anyway; it still
    resolves the parameter's current value on every deploy.
    """
    for template in read_assembly(assembly):
        if template.name == stack:
            return {name: spec["Default"] for name, spec in template.template.get("Parameters", {}).items()
                    if str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::Value") and name != "BootstrapVersion"
                    and "Default" in spec}
    return {}


class Rehearsal:
    def __init__(self, app_dir: Path, workdir: Path, endpoint_url: Optional[str], budget: float,
                 stage: str = "dev") -> None:
        self.app_dir = app_dir
        # The README's stage override (-c headlines.stage=prod), nothing else.
        self.stage_context = {} if stage == "dev" else {"headlines.stage": stage}
        self.workdir = workdir
        self.deadline = Deadline(budget)
        self.attached_url = endpoint_url
        self.emulator: Optional[Emulator] = None
        self.outputs = workdir / "outputs.json"
        self.state_path = workdir / "state.json"
        self.timings: List[Tuple[str, float]] = []
        self._aws: Optional[EmulatorClients] = None
        self._cdk: Optional[Cdk] = None
        self.current = "setup"

    # -- plumbing
    @property
    def url(self) -> str:
        if self.attached_url:
            return self.attached_url
        if self.emulator is None:
            raise RehearsalError("no emulator (run the start phase or pass --endpoint-url)")
        return self.emulator.url

    @property
    def aws(self) -> EmulatorClients:
        if self._aws is None:
            self._aws = clients(self.url)
        return self._aws

    @property
    def cdk(self) -> Cdk:
        if self._cdk is None:
            self._cdk = Cdk(self.app_dir, self.workdir, self.url, self.deadline)
        return self._cdk

    def context(self, changed: Mapping[str, str] = NO_OVERRIDES) -> Dict[str, str]:
        return {**REHEARSAL_CONTEXT, **self.stage_context, **dict(changed)}

    @property
    def model_data_url(self) -> str:
        """The model approved last (the first placeholder until the update approves another)."""
        return self.state().get("model_data_url", f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEYS[0]}")

    def state(self) -> Dict[str, Any]:
        if self.state_path.exists():
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        return {}

    def save_state(self, **values: Any) -> None:
        state = self.state()
        state.update(values)
        self.state_path.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")

    @property
    def assembly(self) -> Path:
        """The cloud assembly deployed last (or synthesized, before any deploy)."""
        return Path(self.state().get("assembly", self.workdir / "cdk.out"))

    # -- phases
    def phase_start(self) -> None:
        if self.attached_url:
            say(f"  using the emulator at {self.attached_url}")
            return
        self.emulator = Emulator(self.workdir / "logs" / "moto_server.log")
        self.emulator.start(timeout=min(30.0, self.deadline.left()))
        say(f"  moto_server pid {self.emulator.pid} on {self.emulator.url}")

    def phase_bootstrap(self) -> None:
        template = self.cdk.bootstrap()
        say(f"  aws://{ACCOUNT}/{REGION} bootstrapped with {template}")

    def phase_preflight(self) -> None:
        """``headlines preflight`` before the first deploy, as the README has users run it."""
        preflight_phase(self.aws, self.context())

    def _synth(self, log_name: str, changed: Mapping[str, str], out_dir: Path) -> List[StackTemplate]:
        self.cdk.synth(log_name, self.context(changed), out_dir)
        stacks = read_assembly(out_dir)
        say(f"  {', '.join(s.name for s in stacks)} synthesized to {out_dir}")
        fixups = apply_fixups(out_dir)
        if fixups:
            say(f"  rewritten for the emulator: {', '.join(fixups)}")
            self.save_state(fixups=sorted(set(self.state().get("fixups", [])) | set(fixups)))
        return read_assembly(out_dir)

    def phase_synth(self) -> None:
        self._synth("synth", {}, self.workdir / "cdk.out")
        self.save_state(assembly=str(self.workdir / "cdk.out"), changed={})

    def _stage_layers(self, stacks: Sequence[StackTemplate]) -> None:
        """Placeholder versions of the public layers the functions use (Powertools).

        moto ignores Layers when CloudFormation creates a function but resolves them when it
        updates one, by layer name and version in the deploying account only: the public
        layer of AWS's account is staged under its name in the emulated account.
        """
        for name, version in sorted(external_layers(stacks).items()):
            versions = pages(self.aws.lambda_, "list_layer_versions", "LayerVersions", LayerName=name)
            for _ in range(max((v["Version"] for v in versions), default=0), version):
                self.aws.lambda_.publish_layer_version(
                    LayerName=name, Description="placeholder staged by devtools.rehearsal",
                    Content={"ZipFile": tiny_zip()}, CompatibleRuntimes=["python3.12"])
            say(f"  placeholder layer {name}:{version} (a public layer of another account)")

    def phase_stage(self) -> None:
        s3 = self.aws.s3
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        for generation, key in enumerate(ARTIFACT_KEYS):
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=placeholder_artifact(generation))
            say(f"  placeholder artifact s3://{ARTIFACT_BUCKET}/{key} (model_version {placeholder_version(generation)})")
        self._stage_layers(read_assembly(self.assembly))

    def phase_inventory(self) -> None:
        before = take_inventory(self.aws)
        self.save_state(inventory_before={k: sorted(v) for k, v in before.items()})
        say("  " + ", ".join(f"{len(v)} {k}" for k, v in before.items() if v))

    def approve(self, generation: int, changed: Mapping[str, str]) -> None:
        """Stand-in for ``headlines pipeline start --wait`` (a model registered, pending), then
        ``headlines model approve VERSION --aws`` and the approval rule's function (devtools/rehearsal/registry.py)."""
        from headlines.file_modules import load_lambda
        from headlines.images import resolve_image
        from infra.stacks import image_props

        cfg = load_config({**self.stage_context, **dict(changed)})
        url = f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEYS[generation]}"
        # The version as the pipeline's model-identity function reads it from the artifact.
        identity = load_lambda("model_identity", "model_identity")
        version = identity.handler({"model_data_url": url}, None, client=self.aws.s3)
        group = registry.group_name(self.aws, cfg)
        # The stand-in's group is the template's (retained on destroy, as in AWS).
        stack = next(t for t in read_assembly(self.assembly) if t.name.endswith("Pipeline"))
        (logical,) = stack.of_type("AWS::SageMaker::ModelPackageGroup")
        owned = self.state().get("owned", []) + [vars(Owned(stack.name, logical, "AWS::SageMaker::ModelPackageGroup", group))]
        self.save_state(owned=owned)
        arn = registry.register(self.aws, group, version, url, resolve_image("mxnet_inference", image_props(cfg), REGION))
        registry.headlines_model(self.url, self.workdir, cfg.stage, "approve", version)
        registry.deliver(self.aws, cfg, group, arn, "Approved")
        found = registry.pointer(self.aws, cfg)
        if found != serving_model_value(version, url):
            raise RehearsalError(f"headlines model approve {version} --aws: the serving pointer says {found!r}")
        approved = self.state().get("approved", []) + [[version, url, arn]]
        self.save_state(model_data_url=url, model_version=version, approved=approved, group=group)
        say(f"  registered {arn} and approved it (headlines model approve {version} --aws): "
            f"{serving_model_parameter(cfg)} = {version} {url}")

    def rollback(self, changed: Mapping[str, str]) -> List[Result]:
        """``headlines model rollback --aws``: the pointer goes back to the model approved before."""
        cfg = load_config({**self.stage_context, **dict(changed)})
        state = self.state()
        (old_version, old_url, _), (_, _, new_arn) = state["approved"][-2:]
        registry.headlines_model(self.url, self.workdir, cfg.stage, "rollback")
        registry.deliver(self.aws, cfg, state["group"], new_arn, "Rejected")
        expected, found = serving_model_value(old_version, old_url), registry.pointer(self.aws, cfg)
        listed = registry.headlines_model(self.url, self.workdir, cfg.stage, "list")
        say(f"  rolled back (headlines model rollback --aws): {serving_model_parameter(cfg)} = {found}")
        return [Result("registry.rollback", "PASS" if found == expected else "FAIL", expected, found),
                Result("registry.list", "PASS" if listed.startswith(f"* {old_version}") else "FAIL",
                       f"* {old_version} (serving) first", listed.splitlines()[0] if listed else "(nothing)")]

    def _deploy(self, log_name: str, assembly: Path, generation: int = 0, changed: Mapping[str, str] = NO_OVERRIDES) -> Deployed:
        """The README's sequence: deploy the pipeline stack, approve a model, deploy serving."""
        names = [s.name for s in read_assembly(assembly)]
        pipeline = next(n for n in names if n.endswith("Pipeline"))
        serving = next(n for n in names if n.endswith("Serving"))
        merged: Dict[str, Any] = {}
        with CustomResourceResponder(self.url, self.aws) as responder:
            for step, stack_name in (("pipeline", pipeline), ("serving", serving)):
                if step == "serving":
                    self.approve(generation, changed)
                part = self.workdir / f"outputs-{stack_name}.json"
                self.cdk.deploy(f"{log_name}-{step}", assembly, stack_name, part,
                                ssm_parameter_defaults(assembly, stack_name))
                merged.update(json.loads(part.read_text(encoding="utf-8")) if part.exists() else {})
        self.outputs.write_text(json.dumps(merged, indent=1), encoding="utf-8")
        answered = sorted(set(self.state().get("custom_resources", [])) | set(responder.answered))
        self.save_state(assembly=str(assembly), custom_resources=answered)
        if responder.answered:
            say(f"  custom resources answered SUCCESS by the rehearsal (their code did not run): "
                f"{', '.join(responder.answered)}")
        deployed = read_deployed(self.aws, assembly, self.outputs)
        owned = self.state().get("owned", []) + [vars(o) for o in owned_resources(deployed)]
        self.save_state(owned=owned)
        for stack in deployed.stacks:
            say(f"  {stack.name}: {deployed.status.get(stack.name)}, "
                f"{len(deployed.resources.get(stack.name, {}))} resources, "
                f"{len(deployed.outputs.get(stack.name, {}))} outputs")
        return deployed

    def phase_deploy(self) -> None:
        self._deploy("deploy", self.assembly)

    def expectations(self, changed: Mapping[str, str]) -> Expectations:
        return Expectations(load_config({**self.stage_context, **dict(changed)}), self.model_data_url, expected_routes(), changed,
                            model_version=self.state().get("model_version"))

    def _report(self, results: List[Result]) -> None:
        whys = {name: why for name, why, _ in EMULATOR_FIXUPS}
        for fixup in self.state().get("fixups", []):
            name, where = fixup.split(": ", 1)
            results.append(Result(f"emulator-fixup[{where}]", "GAP", "the template as synthesized", whys[name]))
        answered = self.state().get("custom_resources", [])
        if answered:
            results.append(Result("custom-resources", "GAP", "their providers run",
                                  f"answered SUCCESS by the rehearsal, code not run: {', '.join(answered)}"))
        report(results)

    def phase_check(self) -> None:
        changed = self.state().get("changed", {})
        deployed = read_deployed(self.aws, self.assembly, self.outputs)
        self._report(run_checks(self.aws, deployed, self.expectations(changed)))

    def phase_update(self) -> None:
        before = read_deployed(self.aws, self.assembly, self.outputs)
        out_dir = self.workdir / "cdk.out.update"
        self._stage_layers(self._synth("synth-update", UPDATE_OVERRIDES, out_dir))
        say("  changed: " + ", ".join(f"{k}={v}" for k, v in UPDATE_OVERRIDES.items()))
        self.save_state(changed=dict(UPDATE_OVERRIDES))
        previous = self.model_data_url
        deployed = self._deploy("update", out_dir, generation=1, changed=UPDATE_OVERRIDES)
        exp = self.expectations(UPDATE_OVERRIDES)
        exp.previous_model_data_url = previous
        self._report(update_results(self.aws, before, deployed, exp) + run_checks(self.aws, deployed, exp)
                     + self.rollback(UPDATE_OVERRIDES))

    def phase_destroy(self) -> None:
        deployed = take_inventory(self.aws)
        self.save_state(inventory_deployed={k: sorted(v) for k, v in deployed.items()})
        with CustomResourceResponder(self.url, self.aws):
            self.cdk.destroy(self.assembly)
        statuses = {}
        summaries = pages(self.aws.cloudformation, "list_stacks", "StackSummaries")
        for stack in read_assembly(self.assembly):
            mine = [s for s in summaries if s["StackName"] == stack.name]
            alive = [s for s in mine if s["StackStatus"] != "DELETE_COMPLETE"]
            statuses[stack.name] = alive[0]["StackStatus"] if alive else "DELETE_COMPLETE" if mine else "never created"
        not_deleted = {k: v for k, v in statuses.items() if v != "DELETE_COMPLETE"}
        say("  " + ", ".join(f"{k}: {v}" for k, v in statuses.items()))
        if not_deleted:
            raise RehearsalError(f"stacks not deleted: {not_deleted}")

    def phase_redeploy(self) -> None:
        """Deploy again after the destroy (first assembly, first model): nothing may clash."""
        # What the first destroy left (known gaps only, or it would have failed) is the
        # baseline of the second inventory diff.
        baseline = take_inventory(self.aws)
        self.save_state(changed={}, inventory_before_redeploy={k: sorted(v) for k, v in baseline.items()})
        out_dir = self.workdir / "cdk.out"
        self._stage_layers(read_assembly(out_dir))
        deployed = self._deploy("redeploy", out_dir)
        self._report(run_checks(self.aws, deployed, self.expectations({})))

    def phase_destroy_again(self) -> None:
        self.phase_destroy()

    def phase_teardown_again(self) -> None:
        self.phase_teardown("inventory_before_redeploy")

    def phase_teardown(self, baseline: str = "inventory_before") -> None:
        state = self.state()
        if baseline not in state:
            raise RehearsalError("no inventory from before the deploy (run the inventory phase)")
        before = {k: set(v) for k, v in state[baseline].items()}
        deployed = {k: set(v) for k, v in state.get("inventory_deployed", {}).items()}
        after = take_inventory(self.aws)
        owned = [Owned(**o) for o in state.get("owned", [])]
        stacks = read_assembly(self.workdir / "cdk.out") + [
            s for s in read_assembly(self.assembly) if self.assembly != self.workdir / "cdk.out"]
        leftovers, missing = classify_leftovers(before, deployed, after, stacks, owned)
        leftovers += probe_owned(self.aws, owned)
        for item in leftovers:
            tag = "GAP " if item.gap else "FAIL"
            why = KNOWN_GAPS[item.gap] if item.gap else "not explained by a known emulator gap"
            say(f"  {tag}  left behind: {item.kind} {item.ident} ({item.detail}): {why}")
        for gone in missing:
            say(f"  FAIL  gone though it existed before the deploy: {gone}")
        unexplained = [item for item in leftovers if item.gap is None]
        say(f"  {len(leftovers) - len(unexplained)} known gaps, {len(unexplained)} unexplained leftovers, "
            f"{len(missing)} missing")
        if unexplained:
            first = unexplained[0]
            raise RehearsalError(f"destroy left {len(unexplained)} resources behind; first: "
                                 f"{first.kind} {first.ident} ({first.detail})")
        if missing:
            raise RehearsalError(f"destroy removed what existed before the deploy: {missing[0]}")

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def run(self, phases: Sequence[str]) -> None:
        for name in PHASES:
            if name not in phases:
                continue
            title = PHASE_TITLES[name]
            self.current = title
            say(f"== {title}")
            started = time.monotonic()
            try:
                getattr(self, f"phase_{name}")()
            except RehearsalError as error:
                error.phase = title  # type: ignore[attr-defined]
                raise
            except (KeyboardInterrupt, Interrupted):
                raise
            except Exception as error:
                failure = RehearsalError(f"{type(error).__name__}: {short(error)}")
                failure.phase = title  # type: ignore[attr-defined]
                raise failure from error
            finally:
                elapsed = time.monotonic() - started
                self.timings.append((title, elapsed))
            say(f"   {title}: done in {elapsed:.1f} s")
