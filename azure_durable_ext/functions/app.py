"""``DurableApp`` / ``DurableBlueprint``: azure.functions apps with durable decorators.

    app = DurableApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="orchestrators/{name}")
    @app.durable_client_input(client_name="client")
    async def http_start(req: func.HttpRequest, client: FunctionsDurableTaskClient):
        instance_id = await client.schedule_new_orchestration_instance(TaskName("Hello", "1.2.0"))
        return client.create_check_status_response(req, instance_id)

    @app.orchestration_trigger(context_name="context", orchestration="Hello", version="1.2.0")
    def hello(context):
        return (yield context.call_activity("say_hello", "Tokyo"))

    @app.activity_trigger(input_name="city")
    def say_hello(city: str) -> str:
        return f"Hello {city}!"

Every durable binding carries ``durableRequiresGrpc: true`` (the extension then speaks gRPC
to the app). ``durable_registry`` holds the orchestrators (by name and version) and the
activities, for our worker, the dev host and ``durable-ext replay-check``.

Decorator order: the durable decorators must sit directly above the ``def`` (below
``@app.route`` / ``@app.function_name``), because they have to see the user's function
itself. Further versions of an orchestration already registered only join the registry:
one Functions function (the first version's) serves every version, and the executor picks
the version from the instance's history.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import FunctionBuilder

from ..core.errors import InvalidArgumentError
from ..core.orchestration import Registry
from ..core.versions import VersioningOptions
from .adapters import adapt_client_parameters, add_client_parameter, orchestrator_entry
from .binding_types import ACTIVITY_TRIGGER, DURABLE_CLIENT, ORCHESTRATION_TRIGGER, REQUIRES_GRPC_PROPERTY


class DurableDecorators:
    """The durable decorators, mixed into FunctionApp and Blueprint subclasses."""

    durable_registry: Registry
    versioning: VersioningOptions | None

    def _init_durable(self, versioning: VersioningOptions | None) -> None:
        self.durable_registry = Registry()
        self.versioning = versioning
        # Builders our decorators made, with the adapted function inside each (so a second
        # durable decorator on the same function finds it without reaching into the builder).
        self._adapted: dict[int, tuple[FunctionBuilder, Callable[..., Any]]] = {}
        # Orchestration names that already have a Functions function.
        self._orchestration_functions: set[str] = set()
        # The app whose registry and versioning the entry functions use (a blueprint's
        # becomes the app it is registered on).
        self._owner: DurableDecorators = self

    # -- durableClient -------------------------------------------------------------------------
    def durable_client_input(
        self, client_name: str, task_hub: str | None = None, connection_name: str | None = None
    ) -> Callable[..., Any]:
        """Declare a ``durableClient`` input binding; the parameter receives a
        FunctionsDurableTaskClient (``async def``) or its blocking facade (``def``)."""
        binding = self._binding_decorator(
            "generic_input_binding",
            arg_name=client_name,
            type=DURABLE_CLIENT,
            **_present(task_hub=task_hub, connection_name=connection_name),
        )

        def decorator(target: Any) -> FunctionBuilder:
            adapted = self._adapted_function(target, "durable_client_input")
            add_client_parameter(adapted, client_name)
            builder: FunctionBuilder = binding(target if isinstance(target, FunctionBuilder) else adapted)
            self._adapted[id(builder)] = (builder, adapted)
            return builder

        return decorator

    def _adapted_function(self, target: Any, decorator_name: str) -> Callable[..., Any]:
        if isinstance(target, FunctionBuilder):
            known = self._adapted.get(id(target))
            if known is None or known[0] is not target:
                raise InvalidArgumentError(
                    f"@{decorator_name} must sit directly above the function (below @app.route, "
                    "@app.function_name and other decorators): it needs the function itself"
                )
            return known[1]
        if not callable(target):
            raise InvalidArgumentError(f"@{decorator_name} decorates functions, not {type(target).__name__}")
        return adapt_client_parameters(target)

    # -- triggers ------------------------------------------------------------------------------
    def orchestration_trigger(
        self, context_name: str, orchestration: str | None = None, version: str | None = None
    ) -> Callable[..., Any]:
        """Register a generator orchestrator as ``orchestration`` (default: the function's
        name), optionally as one ``version`` of it."""

        def decorator(fn: Callable[..., Any]) -> Any:
            if isinstance(fn, FunctionBuilder) or not callable(fn):
                raise InvalidArgumentError(
                    "@orchestration_trigger must sit directly above the orchestrator function"
                )
            name = self.durable_registry.add_orchestrator(fn, orchestration, version)
            key = name.casefold()
            if key in self._orchestration_functions:
                return fn  # another version: the existing trigger function serves it
            entry = orchestrator_entry(
                lambda: self._owner.durable_registry, fn, context_name, lambda: self._owner.versioning
            )
            trigger = self._binding_decorator(
                "generic_trigger",
                arg_name=context_name,
                type=ORCHESTRATION_TRIGGER,
                orchestration=name,
                **_present(version=version),
            )
            builder = self._named(trigger(entry), name, fn)
            self._orchestration_functions.add(key)
            return builder

        return decorator

    def activity_trigger(self, input_name: str, activity: str | None = None) -> Callable[..., Any]:
        """Register an activity (``def`` or ``async def``) as ``activity`` (default: the
        function's name); ``input_name`` receives the activity's input."""

        def decorator(fn: Any) -> FunctionBuilder:
            adapted = self._adapted_function(fn, "activity_trigger")
            name = self.durable_registry.add_activity(_unadapted(adapted), activity)
            trigger = self._binding_decorator(
                "generic_trigger", arg_name=input_name, type=ACTIVITY_TRIGGER, activity=name
            )
            builder = self._named(trigger(fn if isinstance(fn, FunctionBuilder) else adapted), name, adapted)
            self._adapted[id(builder)] = (builder, adapted)
            return builder

        return decorator

    def _named(self, builder: FunctionBuilder, name: str, fn: Callable[..., Any]) -> FunctionBuilder:
        # The extension finds orchestrator and activity functions by their Functions name.
        if name != getattr(fn, "__name__", None):
            builder = self.function_name(name)(builder)  # type: ignore[attr-defined]
        return builder

    def _binding_decorator(self, method: str, **kwargs: Any) -> Callable[..., Any]:
        kwargs[REQUIRES_GRPC_PROPERTY] = True
        return getattr(self, method)(**kwargs)  # type: ignore[no-any-return]

    def _merge_durable(self, other: "DurableDecorators") -> None:
        self.durable_registry.merge(other.durable_registry)
        self._adapted.update(other._adapted)
        self._orchestration_functions |= other._orchestration_functions
        other._owner = self


def _unadapted(fn: Callable[..., Any]) -> Callable[..., Any]:
    return getattr(fn, "__wrapped__", fn)


def _present(**kwargs: Any) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if value is not None}


class DurableApp(DurableDecorators, func.FunctionApp):
    """An ``azure.functions.FunctionApp`` with durable decorators and a registry."""

    def __init__(
        self,
        http_auth_level: func.AuthLevel | str = func.AuthLevel.FUNCTION,
        *,
        versioning: VersioningOptions | None = None,
    ) -> None:
        func.FunctionApp.__init__(self, http_auth_level=http_auth_level)
        self._init_durable(versioning)

    def register_functions(self, function_container: Any) -> None:
        """Register a blueprint's functions; a DurableBlueprint's registry joins ours."""
        func.FunctionApp.register_functions(self, function_container)
        if isinstance(function_container, DurableDecorators):
            self._merge_durable(function_container)

    register_blueprint = register_functions

    def get_functions(self) -> list[Any]:
        """The app's functions; may be called more than once (the base class remembers the
        names it saw and would otherwise report every function as a duplicate)."""
        self.functions_bindings = None
        return func.FunctionApp.get_functions(self)


class DurableBlueprint(DurableDecorators, func.Blueprint):
    """An ``azure.functions.Blueprint`` with durable decorators; register it on a DurableApp."""

    def __init__(self, *, versioning: VersioningOptions | None = None) -> None:
        func.Blueprint.__init__(self)
        self._init_durable(versioning)
