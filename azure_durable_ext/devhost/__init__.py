"""devhost layer: a local stand-in for the Azure Functions host (``durable-ext start``).

- ``host.DevHost``: composes everything below with the sidecar and storage.
- ``function_rpc_host``: FunctionRpc EventStream server, worker process, invocations.
- ``worker_runners``: dispatcher runners invoking orchestration / activity trigger functions.
- ``front_door``: ``/api/<route>`` HTTP triggers (``routes``, ``keys``) and the management API.
- ``management_api``: the Durable HTTP management API over ``DurableClient``.
"""
