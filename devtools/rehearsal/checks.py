"""The checks table: each ``@check`` compares the deployed resources with the templates and the config."""
from __future__ import annotations

import contextlib
import json
import re
from typing import Any, Callable, Dict, Iterable, List, Tuple

from devtools.rehearsal.aws import EmulatorClients
from devtools.rehearsal.basics import name_of, short
from devtools.rehearsal.deployed import Deployed
from devtools.rehearsal.known_gaps import APPLIED_PROPERTIES, KNOWN_GAPS
from devtools.rehearsal.readings import (
    all_states,
    describe_value,
    find_role,
    intrinsic_ok,
    rest_api_routes,
    s3_object_exists,
    s3_uris,
    service_principals,
    state_machine_definition,
)
from devtools.rehearsal.results import Expectations, Result
from devtools.rehearsal.templates import moto_supported, providers

Check = Callable[[EmulatorClients, Deployed, Expectations], Iterable[Result]]
CHECKS: List[Tuple[str, Check]] = []


def check(name: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS.append((name, function))
        return function
    return register


def _result(name: str, ok: bool, expected: Any, found: Any) -> Result:
    return Result(name, "PASS" if ok else "FAIL", str(expected), str(found))


@check("stack.status")
def _stack_status(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    for stack in deployed.stacks:
        status = deployed.status.get(stack.name, "missing")
        yield _result(f"stack.status[{stack.name}]", status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"),
                      "CREATE_COMPLETE or UPDATE_COMPLETE", status)


@check("stack.resources")
def _stack_resources(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    for stack in deployed.stacks:
        wanted = {k for k, v in stack.resources.items() if moto_supported(v["Type"])}
        skipped = sorted({v["Type"] for v in stack.resources.values() if not moto_supported(v["Type"])})
        have = set(deployed.resources.get(stack.name, {}))
        missing = sorted(wanted - have)
        yield _result(f"stack.resources[{stack.name}]", not missing,
                      f"all {len(wanted)} emulated template resources created",
                      f"missing {missing}" if missing else f"{len(wanted & have)} created")
        if skipped:
            yield Result(f"stack.not-emulated[{stack.name}]", "GAP",
                         "every resource type created", f"{KNOWN_GAPS['not-emulated']}: {', '.join(skipped)}")


@check("not-applied")
def _not_applied(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    dropped: Dict[Tuple[str, str], List[str]] = {}
    for stack in deployed.stacks:
        for logical, resource in stack.resources.items():
            applied = APPLIED_PROPERTIES.get(resource.get("Type", ""))
            for prop in sorted(set(resource.get("Properties", {})) - (applied or set())) if applied else ():
                dropped.setdefault((resource["Type"], prop), []).append(f"{stack.name}/{logical}")
    for (rtype, prop), where in sorted(dropped.items()):
        yield Result(f"not-applied[{rtype} {prop}]", "GAP", "applied as in the template",
                     f"moto's CloudFormation ignores it, not verifiable here ({len(where)}: {', '.join(where[:3])}"
                     f"{', ...' if len(where) > 3 else ''})")


@check("stack.outputs")
def _stack_outputs(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    for stack in deployed.stacks:
        declared = sorted(stack.template.get("Outputs", {}))
        got = deployed.outputs.get(stack.name, {})
        empty = [k for k in declared if not str(got.get(k, "")).strip() or got.get(k) in ("None", "null")]
        yield _result(f"stack.outputs[{stack.name}]", not empty,
                      f"{len(declared)} outputs with values: {', '.join(declared) or '-'}",
                      f"missing or empty: {empty}" if empty else f"{len(declared)} present")


@check("s3.encryption")
def _s3_encryption(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    for stack, logical, resource, physical in deployed.of_type("AWS::S3::Bucket"):
        rules = (resource.get("Properties", {}).get("BucketEncryption", {})
                 .get("ServerSideEncryptionConfiguration", []))
        wanted = sorted({r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules} - {None})
        expected = " or ".join(wanted) if wanted else "AES256 or aws:kms (every bucket is encrypted)"
        try:
            config = aws.s3.get_bucket_encryption(Bucket=physical)["ServerSideEncryptionConfiguration"]
            found = sorted({r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in config["Rules"]})
        except Exception as error:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            found = []
            note = short(error)
        else:
            note = ", ".join(found)
        ok = bool(found) and (set(found) <= set(wanted) if wanted else True)
        key_refs = [r.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID") for r in rules]
        key_refs = [k for k in key_refs if k]
        if key_refs and found:
            key_ok, shown = intrinsic_ok(key_refs[0], config["Rules"][0]["ApplyServerSideEncryptionByDefault"]
                                          .get("KMSMasterKeyID"), deployed, stack)
            ok = ok and key_ok
            expected += f" with key {describe_value(key_refs[0])}"
            note += f" with key {shown}"
        yield _result(f"s3.encryption[{stack}/{logical}]", ok, expected, note or "no default encryption")


@check("iam.trust")
def _iam_trust(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    sagemaker_roles = 0
    for stack, logical, resource, physical in deployed.of_type("AWS::IAM::Role"):
        wanted = service_principals(resource.get("Properties", {}).get("AssumeRolePolicyDocument", {}))
        role = find_role(aws, physical)
        found = service_principals(role["AssumeRolePolicyDocument"]) if role else set()
        sagemaker_roles += "sagemaker.amazonaws.com" in found
        yield _result(f"iam.trust[{stack}/{logical}]", role is not None and found == wanted,
                      f"trusted by {sorted(wanted)}",
                      f"trusted by {sorted(found)}" if role else f"no role {physical!r}")
    yield _result("iam.trust[sagemaker execution role]", sagemaker_roles >= 1,
                  "at least one role trusted by sagemaker.amazonaws.com", f"{sagemaker_roles} such roles")


@check("lambda")
def _lambda(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    provider_ids = {(s.name, logical) for s in deployed.stacks for logical in providers(s)}
    for stack, logical, resource, physical in deployed.of_type("AWS::Lambda::Function"):
        props = resource.get("Properties", {})
        app_function = (stack, logical) not in provider_ids
        try:
            config = aws.lambda_.get_function_configuration(FunctionName=physical) if physical else None
        except Exception:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            config = None
        label = f"{stack}/{logical}"
        if config is None:
            yield _result(f"lambda.exists[{label}]", False, "a function", f"no function {physical!r}")
            continue
        runtime = props.get("Runtime")
        yield _result(f"lambda.runtime[{label}]",
                      config.get("Runtime") == runtime and (str(runtime).startswith("python3.") or not app_function),
                      f"{runtime} ({'a python3 runtime' if app_function else 'custom resource provider'})",
                      config.get("Runtime"))
        settings = {"Handler": props.get("Handler"), "Timeout": props.get("Timeout", 3),
                    "MemorySize": props.get("MemorySize", 128)}
        got = {k: config.get(k) for k in settings}
        yield _result(f"lambda.settings[{label}]", got == settings, settings, got)
        wanted_env = props.get("Environment", {}).get("Variables", {})
        got_env = config.get("Environment", {}).get("Variables", {})
        bad = []
        for key, value in sorted(wanted_env.items()):
            ok, shown = intrinsic_ok(value, got_env.get(key), deployed, stack)
            if not ok:
                bad.append(f"{key}={shown} (want {describe_value(value)})")
        extra = sorted(set(got_env) - set(wanted_env))
        bad += [f"unexpected {k}={got_env[k]}" for k in extra]
        yield _result(
            f"lambda.env[{label}]", not bad,
            ", ".join(f"{k}={describe_value(v)}" for k, v in sorted(wanted_env.items())) or "no variables",
            "; ".join(bad) if bad else ", ".join(f"{k}={v}" for k, v in sorted(got_env.items())) or "no variables")


@check("api")
def _api(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    apis = list(deployed.of_type("AWS::ApiGateway::RestApi"))
    yield _result("api.rest-api", len(apis) == 1, "one REST API", f"{len(apis)} in the templates")
    functions = {physical for *_, physical in deployed.of_type("AWS::Lambda::Function")}
    for stack, logical, _resource, api_id in apis:
        try:
            routes = rest_api_routes(aws, api_id)
        except Exception as error:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            yield _result(f"api.routes[{stack}/{logical}]", False, sorted(exp.routes), short(error))
            continue
        served = {r for r in routes if r[0] != "OPTIONS"}  # CORS preflights are extra by design
        missing, extra = sorted(exp.routes - served), sorted(served - exp.routes)
        yield _result(f"api.routes[{stack}/{logical}]", not missing and not extra,
                      "the OpenAPI operations: " + ", ".join(f"{m} {p}" for m, p in sorted(exp.routes)),
                      ", ".join(f"{m} {p}" for m, p in sorted(served))
                      + (f" (missing {missing})" if missing else "") + (f" (undocumented {extra})" if extra else ""))
        for method, path in sorted(exp.routes & served):
            try:
                integration = aws.apigateway.get_integration(
                    restApiId=api_id, resourceId=routes[(method, path)]["resource"], httpMethod=method)
            except Exception as error:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
                yield _result(f"api.integration[{method} {path}]", False, "AWS_PROXY to the API function", short(error))
                continue
            uri = integration.get("uri", "")
            target = next((f for f in functions if f and f"function:{name_of(f)}/" in uri + "/"), None)
            yield _result(f"api.integration[{method} {path}]",
                          integration.get("type") == "AWS_PROXY" and target is not None,
                          "AWS_PROXY to a function of the app",
                          f"{integration.get('type')} to {name_of(uri.split('/invocations')[0]) or uri or '-'}")


@check("pipeline")
def _pipeline(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    machines = list(deployed.of_type("AWS::StepFunctions::StateMachine"))
    yield _result("pipeline.state-machine", len(machines) >= 1, "a training state machine", f"{len(machines)}")
    for stack, logical, _resource, arn in machines:
        label = f"{stack}/{logical}"
        try:
            definition = state_machine_definition(aws, arn)
        except Exception as error:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            yield _result(f"pipeline.definition[{label}]", False, "a readable definition", short(error))
            continue
        states = all_states(definition)
        jobs = {name: s for name, s in states.items()
                if s.get("Type") == "Task" and "sagemaker:createTrainingJob" in str(s.get("Resource", ""))}
        images = {name: str(s.get("Parameters", {}).get("AlgorithmSpecification", {}).get("TrainingImage", ""))
                  for name, s in jobs.items()}
        kinds = sorted({"blazingtext" if "blazingtext" in i else "mxnet" if "mxnet" in i else i or "?"
                        for i in images.values()})
        yield _result(f"pipeline.training-jobs[{label}]", kinds == ["blazingtext", "mxnet"],
                      "two SageMaker training jobs: BlazingText embeddings, MXNet classifier",
                      ", ".join(f"{n}: {i}" for n, i in sorted(images.items())) or "no training job")
        sync = sorted(n for n, s in jobs.items() if not str(s.get("Resource", "")).endswith(".sync"))
        yield _result(f"pipeline.wait-for-jobs[{label}]", bool(jobs) and not sync,
                      "every training task waits for its job (.sync)", f"not waiting: {sync}" if sync else "all .sync")
        fails = {n for n, s in states.items() if s.get("Type") == "Fail"}
        gates = sorted(n for n, s in states.items() if s.get("Type") == "Choice"
                       and ({c.get("Next") for c in s.get("Choices", [])} | {s.get("Default")}) & fails)
        metric, threshold = exp.config.classifier.quality_metric, exp.config.classifier.quality_threshold
        text = repr(float(threshold))
        text = re.escape(text[:-2]) + r"(\.0)?" if text.endswith(".0") else re.escape(text)
        number = re.compile(r"(?<![\d.])" + text + r"(?![\d])")
        with_threshold = [g for g in gates if number.search(json.dumps(states[g]))]
        yield _result(f"pipeline.quality-gate[{label}]", bool(with_threshold) and metric in json.dumps(definition),
                      f"a Choice state that can end in a Fail state, testing {metric} against {threshold} (config)",
                      (f"gate(s) {gates}, threshold {threshold} in {with_threshold or 'none of them'}, "
                       f"{metric} {'named' if metric in json.dumps(definition) else 'never named'}") if gates
                      else f"no gate (Choice states: {sorted(n for n, s in states.items() if s.get('Type') == 'Choice')}, "
                           f"Fail states: {sorted(fails)})")
        roles = {name: s.get("Parameters", {}).get("RoleArn", "") for name, s in jobs.items()}
        untrusted = {}
        for name, role_arn in roles.items():
            role = find_role(aws, role_arn) if role_arn else None
            if role is None or "sagemaker.amazonaws.com" not in service_principals(role["AssumeRolePolicyDocument"]):
                untrusted[name] = role_arn or "no RoleArn"
        yield _result(f"pipeline.job-roles[{label}]", bool(jobs) and not untrusted,
                      "each job's RoleArn is a deployed role trusted by sagemaker.amazonaws.com",
                      f"bad: {untrusted}" if untrusted else ", ".join(sorted({name_of(r) for r in roles.values()})))
        uris = [(k, v) for s in jobs.values() for k, v in s3_uris(s.get("Parameters", {}))]
        bad = [f"{k}={v}" for k, v in uris if not v.startswith("s3://")]
        yield _result(f"pipeline.s3-uris[{label}]", not bad, "training job S3 locations are s3:// URIs",
                      "; ".join(bad) if bad else f"{len(uris)} s3:// URIs")


@check("serving")
def _serving(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    endpoints = list(deployed.of_type("AWS::SageMaker::Endpoint"))
    yield _result("serving.endpoint", len(endpoints) == 1, "one SageMaker endpoint", f"{len(endpoints)} in the templates")
    for stack, logical, resource, physical in endpoints:
        try:
            endpoint = aws.sagemaker.describe_endpoint(EndpointName=name_of(physical))
        except Exception as error:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            yield _result(f"serving.endpoint[{stack}/{logical}]", False, "an endpoint", short(error))
            continue
        yield _result(f"serving.endpoint[{stack}/{logical}]", endpoint["EndpointStatus"] == "InService",
                      "InService", endpoint["EndpointStatus"])
        config_name = endpoint["EndpointConfigName"]
        ref = resource.get("Properties", {}).get("EndpointConfigName", {})
        owned = ""
        if isinstance(ref, dict) and ("Fn::GetAtt" in ref or "Ref" in ref):
            target = ref["Fn::GetAtt"][0] if "Fn::GetAtt" in ref else ref["Ref"]
            owned = name_of(deployed.physical(stack, target))
        try:
            config = aws.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        except Exception as error:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            if exp.changed and owned and owned != config_name:
                yield Result(f"serving.endpoint->config[{stack}/{logical}]", "GAP",
                             f"endpoint uses the stack's configuration {owned}",
                             f"{config_name} (deleted): {KNOWN_GAPS['endpoint-not-repointed']}")
                try:
                    config = aws.sagemaker.describe_endpoint_config(EndpointConfigName=owned)
                except Exception as inner:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
                    yield _result(f"serving.endpoint-config[{stack}/{logical}]", False, owned, short(inner))
                    continue
            else:
                yield _result(f"serving.endpoint->config[{stack}/{logical}]", False,
                              "an existing endpoint configuration", f"{config_name}: {short(error)}")
                continue
        else:
            yield _result(f"serving.endpoint->config[{stack}/{logical}]", not owned or owned == config_name,
                          f"the stack's endpoint configuration {owned or '(any)'}", config_name)
        variants = config.get("ProductionVariants", [])
        serving = exp.config.serving
        if serving.mode == "serverless":
            serverless = {"MemorySizeInMB": serving.serverless_memory_mb,
                          "MaxConcurrency": serving.serverless_max_concurrency}
            got = [v.get("ServerlessConfig") for v in variants]
            yield _result(f"serving.variant[{stack}/{logical}]", got == [serverless], [serverless], got)
        else:
            wanted = [(serving.instance_type, serving.initial_instance_count)]
            got = [(v.get("InstanceType"), v.get("InitialInstanceCount")) for v in variants]
            yield _result(f"serving.variant[{stack}/{logical}]", got == wanted,
                          f"instance type and count from config: {wanted}", got)
        for variant in variants:
            model_name = variant.get("ModelName", "")
            try:
                model = aws.sagemaker.describe_model(ModelName=model_name)
            except Exception as error:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
                yield _result(f"serving.config->model[{stack}/{logical}]", False, "an existing model",
                              f"{model_name}: {short(error)}")
                continue
            yield _result(f"serving.config->model[{stack}/{logical}]", True, "an existing model", model_name)
            role = find_role(aws, model.get("ExecutionRoleArn", ""))
            principals = service_principals(role["AssumeRolePolicyDocument"]) if role else set()
            yield _result(f"serving.model-role[{model_name}]", "sagemaker.amazonaws.com" in principals,
                          "a deployed role trusted by sagemaker.amazonaws.com",
                          f"{name_of(model.get('ExecutionRoleArn', ''))} trusted by {sorted(principals)}")
            containers = [model.get("PrimaryContainer")] if model.get("PrimaryContainer") else model.get("Containers", [])
            urls = [c.get("ModelDataUrl") for c in containers]
            if exp.previous_model_data_url and urls == [exp.previous_model_data_url]:
                yield Result(f"serving.model-data[{model_name}]", "GAP", f"the newly approved {exp.model_data_url}",
                             f"{urls}: {KNOWN_GAPS['model-not-re-resolved']}")
            else:
                yield _result(f"serving.model-data[{model_name}]", urls == [exp.model_data_url]
                              and s3_object_exists(aws, exp.model_data_url),
                              f"the staged artifact {exp.model_data_url} (which exists)", urls)
            env = {k: v for c in containers for k, v in (c.get("Environment") or {}).items()}
            yield _result(f"serving.model-env[{model_name}]", "SAGEMAKER_PROGRAM" in env,
                          "SAGEMAKER_PROGRAM set (the entry point under code/)",
                          ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "no environment")


@check("wiring")
def _wiring(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    endpoints = [name_of(p) for *_, p in deployed.of_type("AWS::SageMaker::Endpoint")]
    users = []
    for _stack, logical, _resource, physical in deployed.of_type("AWS::Lambda::Function"):
        try:
            env = aws.lambda_.get_function_configuration(FunctionName=physical).get("Environment", {}).get("Variables", {})
        except Exception:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            continue
        users += [f"{logical}.{k}" for k, v in env.items() if v in endpoints]
    yield _result("wiring.api->endpoint", bool(users) and bool(endpoints),
                  f"a function's environment names the deployed endpoint {endpoints}",
                  ", ".join(users) or "no function names it")
    if exp.model_version:
        # One model identity: what /v1/health reports (MODEL_VERSION) and the ModelVersion output.
        found = {f"{stack}.output.ModelVersion": outputs.get("ModelVersion")
                 for stack, outputs in deployed.outputs.items() if "ModelVersion" in outputs}
        for _stack, logical, _resource, physical in deployed.of_type("AWS::Lambda::Function"):
            with contextlib.suppress(Exception):
                env = aws.lambda_.get_function_configuration(FunctionName=physical).get("Environment", {}).get("Variables", {})
                if "MODEL_VERSION" in env:
                    found[f"{logical}.MODEL_VERSION"] = env["MODEL_VERSION"]
        ok = len(found) >= 2 and set(found.values()) == {exp.model_version}
        shown = ", ".join(f"{k}={v}" for k, v in sorted(found.items())) or "neither"
        if not ok and exp.previous_model_data_url:
            yield Result("wiring.model-version", "GAP", f"{exp.model_version} everywhere",
                         f"{shown}: {KNOWN_GAPS['model-not-re-resolved']}")
        else:
            yield _result("wiring.model-version", ok,
                          f"the approved model's version {exp.model_version} (metrics.json) in the function and the output", shown)


@check("notebook")
def _notebook(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> Iterable[Result]:
    notebooks = list(deployed.of_type("AWS::SageMaker::NotebookInstance"))
    enabled = exp.config.notebook.enabled
    yield _result("notebook.present", len(notebooks) == (1 if enabled else 0),
                  f"{1 if enabled else 0} notebook instance (notebook.enabled={enabled})", len(notebooks))
    for stack, logical, _resource, physical in notebooks:
        try:
            notebook = aws.sagemaker.describe_notebook_instance(NotebookInstanceName=name_of(physical))
        except Exception as error:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            yield _result(f"notebook[{stack}/{logical}]", False, "a notebook instance", short(error))
            continue
        role = find_role(aws, notebook.get("RoleArn", ""))
        principals = service_principals(role["AssumeRolePolicyDocument"]) if role else set()
        got = (notebook.get("InstanceType"), "sagemaker.amazonaws.com" in principals)
        yield _result(f"notebook[{stack}/{logical}]", got == (exp.config.notebook.instance_type, True),
                      f"{exp.config.notebook.instance_type}, role trusted by sagemaker.amazonaws.com",
                      f"{got[0]}, role trusted by {sorted(principals)}")


def run_checks(aws: EmulatorClients, deployed: Deployed, exp: Expectations) -> List[Result]:
    results: List[Result] = []
    for name, function in CHECKS:
        try:
            results.extend(function(aws, deployed, exp))
        except Exception as error:  # noqa: BLE001 - a crashing check is a failed check
            results.append(Result(name, "FAIL", "the check to run", f"{type(error).__name__}: {short(error)}"))
    return results


def update_results(aws: EmulatorClients, before: Deployed, after: Deployed, exp: Expectations) -> List[Result]:
    """Did the changed settings land? (UPDATE_OVERRIDES names them.)"""
    results = []
    old_configs = {(stack, logical): physical for stack, logical, _r, physical in before.of_type("AWS::SageMaker::EndpointConfig")}
    for stack, logical, _resource, physical in after.of_type("AWS::SageMaker::EndpointConfig"):
        old = old_configs.get((stack, logical), "")
        try:
            variants = aws.sagemaker.describe_endpoint_config(
                EndpointConfigName=name_of(physical))["ProductionVariants"]
            types = [v.get("InstanceType") for v in variants]
        except Exception as error:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            types = [short(error)]
        wanted = exp.config.serving.instance_type
        results.append(_result(
            f"update.endpoint-config[{stack}/{logical}]", physical != old and types == [wanted],
            f"replaced by a new configuration with {wanted} (blue/green)",
            f"{'new' if physical != old else 'same'} configuration {name_of(physical)} with {types}"))
    wanted_chars = str(exp.config.api.max_headline_chars)
    holders = []
    for _stack, logical, _resource, physical in after.of_type("AWS::Lambda::Function"):
        try:
            env = aws.lambda_.get_function_configuration(FunctionName=physical).get("Environment", {}).get("Variables", {})
        except Exception:  # noqa: BLE001 - a failing call is this check's FAIL row, not a crash
            continue
        holders += [f"{logical}.{k}={v}" for k, v in env.items() if "HEADLINE" in k.upper() and "CHAR" in k.upper()]
    results.append(_result("update.api-function-setting", any(h.endswith("=" + wanted_chars) for h in holders),
                           f"the API function's max headline length is {wanted_chars}",
                           ", ".join(holders) or "no function carries it"))
    return results
