"""Functions layer: durable decorators for azure.functions apps, and a FunctionRpc worker.

- ``DurableApp`` / ``DurableBlueprint``: ``durable_client_input``, ``orchestration_trigger``
  (with ``version``), ``activity_trigger``; ``durable_registry`` for tools.
- ``DurableClientBindingData``: the host's durableClient payload and the client it becomes.
- The worker (``worker_main``): GrpcWorker -> InvocationHandler -> FunctionsApplication ->
  HttpProxyingMiddleware -> OutputBindingsMiddleware -> FunctionExecutor.
"""
from .app import DurableApp, DurableBlueprint
from .client_binding import DurableClientBindingData

__all__ = ["DurableApp", "DurableBlueprint", "DurableClientBindingData"]
