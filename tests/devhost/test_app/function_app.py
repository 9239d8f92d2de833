"""A small app for dev host tests: auth levels, a slow HTTP function, route templates."""
import asyncio
import logging

import azure.functions as func

from azure_durable_ext.functions import DurableApp

app = DurableApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="slow/{ms:int}", methods=["GET"])
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    logging.getLogger("test_app").info("sleeping %s ms", req.route_params["ms"])
    await asyncio.sleep(int(req.route_params["ms"]) / 1000)
    return func.HttpResponse(f"slept {req.route_params['ms']}")


@app.route(route="items/{id?}", auth_level=func.AuthLevel.FUNCTION)
def items(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"item {req.route_params.get('id', 'all')}")


@app.route(route="admin/reset", auth_level=func.AuthLevel.ADMIN, methods=["POST"])
def reset(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("reset", status_code=200)
