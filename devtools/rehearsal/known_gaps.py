"""What the emulator does not do: each gap a leftover or a GAP row may be explained by."""
from __future__ import annotations

# What the emulator does not do, as measured with moto 5.2.5 (docs/rehearsal.md has more).
KNOWN_GAPS = {
    "restapi-not-deleted": "moto has no delete handler for AWS::ApiGateway::RestApi: the API "
                           "stays after its stack is deleted",
    "retained": "DeletionPolicy Retain in the template: CloudFormation keeps it on purpose",
    "recreated-by-outputs": "moto re-creates a resource that a deleted stack's outputs refer to "
                            "when the deleted stack is described (a new physical name, not the "
                            "one deployed)",
    "runtime-log-group": "the log group Lambda creates when a function is invoked (here moto's attempt "
                         "to run a custom resource provider): CloudFormation never owned it, and in "
                         "AWS it outlives the stack too",
    "not-emulated": "moto's CloudFormation skips this resource type (created nowhere)",
    "model-not-re-resolved": "moto resolves the SSM-typed parameter again on update but updates only resources "
                             "whose template text changed: the Model keeps the previous artifact (CloudFormation "
                             "compares resolved values and replaces the Model, blue/green)",
    "endpoint-not-repointed": "moto updates only resources whose template text changed: after "
                              "the endpoint configuration is replaced, the Endpoint keeps the old "
                              "name (CloudFormation re-resolves the GetAtt and updates it)",
}
# What moto's CloudFormation applies of these types (read from moto 5.2.5's create handlers);
# any other property in the template is accepted and dropped: reported as GAP rows, never PASS.
APPLIED_PROPERTIES = {
    "AWS::S3::Bucket": {"BucketName", "BucketEncryption", "Tags"},
    "AWS::Lambda::Function": {"Code", "FunctionName", "Handler", "Role", "Runtime", "Description", "MemorySize",
                              "Publish", "Timeout", "VpcConfig", "Environment", "ReservedConcurrentExecutions"},
    "AWS::IAM::Role": {"RoleName", "AssumeRolePolicyDocument", "Path", "PermissionsBoundary", "Description",
                       "Tags", "MaxSessionDuration", "Policies"},
}
