"""A sample durable function app for the worker tests (Python v2 programming model)."""
import asyncio
import json
import logging

import azure.functions as func

from azure_durable_ext.core.task_name import TaskName
from azure_durable_ext.functions import DurableApp

app = DurableApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client", task_hub="SampleHub")
async def http_start(req: func.HttpRequest, client) -> func.HttpResponse:
    version = req.params.get("version")
    instance_id = await client.schedule_new_orchestration_instance(
        TaskName(req.route_params.get("name", "Hello"), version), input=req.get_json() if req.get_body() else None
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="start-sync/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
def http_start_sync(req: func.HttpRequest, client) -> func.HttpResponse:
    instance_id = client.schedule_new_orchestration_instance(req.route_params["name"], version="1.2.0")
    state = client.get_instance(instance_id)
    return func.HttpResponse(json.dumps({"id": instance_id, "version": state.version if state else None}),
                             status_code=201, mimetype="application/json")


@app.route(route="echo/{word}")
def echo(req: func.HttpRequest) -> func.HttpResponse:
    logging.getLogger("sample").info("echo called with %s", req.route_params.get("word"))
    return func.HttpResponse(f"{req.method} {req.route_params.get('word')} {req.get_body().decode()}")


@app.orchestration_trigger(context_name="context", orchestration="Hello", version="1.0.0")
def hello_v1(context):
    result = yield context.call_activity("say_hello", "v1")
    return result


@app.orchestration_trigger(context_name="context", orchestration="Hello", version="1.2.0")
def hello_v12(context):
    result = yield context.call_activity("say_hello", "v1.2")
    return result


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    logging.getLogger("sample").info("saying hello to %s", city)
    return f"Hello {city}!"


@app.activity_trigger(input_name="value")
async def shout(value: str) -> str:
    await asyncio.sleep(0)
    return value.upper()


@app.activity_trigger(input_name="seconds")
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "finished"


@app.activity_trigger(input_name="value")
def boom(value: str) -> str:
    raise ValueError(f"kaboom: {value}")


@app.generic_output_binding(arg_name="message", type="queue", queue_name="outbox", connection="AzureWebJobsStorage")
@app.activity_trigger(input_name="value")
def enqueue(value: dict, message: func.Out[str]) -> int:
    message.set(json.dumps(value))
    return len(value)


@app.route(route="info", methods=["GET"])
async def info(req: func.HttpRequest) -> dict:
    return {"functions": 11, "method": req.method}
