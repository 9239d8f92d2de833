"""Sample durable function app: start a versioned orchestration over HTTP.

    POST /api/orchestrators/HelloOrchestration              -> host.json defaultVersion (2.0.0)
    POST /api/orchestrators/HelloOrchestration?version=1.0.0 -> version 1.0.0
    (optional JSON body = the orchestration's input)

Both versions of HelloOrchestration live side by side; an instance keeps the version it was
started with. Run it with ``durable-ext start function_app_sample`` (or Core Tools with the
Preview extension bundle, see host.json).
"""
import json

import azure.functions as func

from azure_durable_ext.core.errors import InvalidArgumentError
from azure_durable_ext.core.task_name import TaskName
from azure_durable_ext.core.versions import validate_version
from azure_durable_ext.functions import DurableApp

app = DurableApp(http_auth_level=func.AuthLevel.FUNCTION)


def _error(status: int, message: str) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"error": message}), status_code=status, mimetype="application/json")


@app.function_name("HttpStart")
@app.route(route="orchestrators/{name}", methods=["POST", "GET"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client) -> func.HttpResponse:
    name = req.route_params["name"]
    version = req.params.get("version") or None
    registry = app.durable_registry
    versions = registry.orchestrator_versions(name)
    if not versions:
        known = sorted({entry.name for entry in registry.iter_orchestrators()})
        return _error(404, f"orchestrator {name!r} does not exist in this app (known: {', '.join(known)})")
    try:
        version = validate_version(version)
    except InvalidArgumentError as exc:
        return _error(400, str(exc))
    if version is not None and registry.find_orchestrator(name, version) is None:
        listed = ", ".join(v or "(unversioned)" for v in versions)
        return _error(404, f"orchestrator {name!r} has no version {version!r} (versions: {listed})")
    body = req.get_body()
    try:
        payload = json.loads(body) if body.strip() else None
    except ValueError as exc:
        return _error(400, f"the request body is not valid JSON: {exc}")
    try:
        instance_id = await client.schedule_new_orchestration_instance(
            TaskName(name, version), input=payload
        )
    except InvalidArgumentError as exc:
        return _error(400, str(exc))
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context", orchestration="HelloOrchestration", version="1.0.0")
def hello_orchestration_v1(context):
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("SayHello", city)))
    return results


@app.orchestration_trigger(context_name="context", orchestration="HelloOrchestration", version="2.0.0")
def hello_orchestration_v2(context):
    results = []
    for city in ("Tokyo", "Seattle", "London", "Cairo"):
        results.append((yield context.call_activity("SayHello", city)))
    return results


@app.activity_trigger(input_name="city", activity="SayHello")
def say_hello(city: str) -> str:
    return f"Hello {city}!"
