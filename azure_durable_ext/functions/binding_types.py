"""Binding type names and properties of the Durable extension and the Functions host."""
from __future__ import annotations

DURABLE_CLIENT = "durableClient"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
HTTP_TRIGGER = "httpTrigger"
HTTP_OUTPUT = "http"

#: Binding property (snake_case for azure.functions' generic bindings, which camelCase it to
#: ``durableRequiresGrpc``) that makes the Durable extension use its gRPC protocol.
REQUIRES_GRPC_PROPERTY = "durable_requires_grpc"

#: The binding name of a function's return value.
RETURN_BINDING = "$return"
