"""Indexing a function app: ``function_app.py`` -> function definitions -> RpcFunctionMetadata.

Worker indexing, as the Python worker does it: import the app's ``function_app.py``, take
every module-level ``azure.functions.FunctionApp`` and ask it ``get_functions()``; each
function's raw bindings (JSON texts) go to the host unchanged, with the property
``worker_indexed: True``.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func

from ..core.errors import ConfigurationError
from ..core.orchestration import Registry
from ..protocol.function_rpc import frpc
from .binding_types import HTTP_TRIGGER

SCRIPT_FILE = "function_app.py"
LANGUAGE = "python"
_DIRECTIONS = {"in": frpc.BindingInfo.in_, "out": frpc.BindingInfo.out, "inout": frpc.BindingInfo.inout}
_ID_NAMESPACE = uuid.UUID("6c1f4a2e-8d0b-4c55-9f5e-2b7d9a3c1e10")


@dataclass(frozen=True, slots=True)
class BindingDefinition:
    """One binding of a function, from its raw JSON."""

    name: str
    type: str
    direction: str
    properties: dict[str, Any]

    @property
    def is_input(self) -> bool:
        return self.direction.lower() in ("in", "inout")

    @property
    def is_output(self) -> bool:
        return self.direction.lower() in ("out", "inout")


@dataclass(frozen=True, slots=True)
class FunctionDefinition:
    """What the worker knows about one function."""

    name: str
    function_id: str
    directory: str
    script_file: str
    raw_bindings: tuple[str, ...]
    bindings: tuple[BindingDefinition, ...]
    user_function: Callable[..., Any] = field(compare=False)

    @property
    def entry_point(self) -> str:
        """``<module>.<function>`` of the function the worker calls (the lookup key of the
        executor's dispatch table)."""
        fn = self.user_function
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', self.name)}"

    @property
    def trigger(self) -> BindingDefinition:
        return next(b for b in self.bindings if b.type.lower().endswith("trigger"))

    @property
    def is_http_trigger(self) -> bool:
        return self.trigger.type == HTTP_TRIGGER

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    def to_rpc(self) -> frpc.RpcFunctionMetadata:
        metadata = frpc.RpcFunctionMetadata(
            name=self.name,
            function_id=self.function_id,
            directory=self.directory,
            script_file=self.script_file,
            entry_point=self.entry_point,
            language=LANGUAGE,
            raw_bindings=list(self.raw_bindings),
            properties={"worker_indexed": "True"},
        )
        for binding in self.bindings:
            metadata.bindings[binding.name].CopyFrom(
                frpc.BindingInfo(type=binding.type, direction=_DIRECTIONS[binding.direction.lower()])
            )
        return metadata


@dataclass(frozen=True, slots=True)
class IndexedApp:
    """The functions of an app and its durable registry (empty for plain FunctionApps)."""

    directory: str
    functions: tuple[FunctionDefinition, ...]
    registry: Registry

    def by_id(self) -> dict[str, FunctionDefinition]:
        return {f.function_id: f for f in self.functions}


def load_function_app_module(directory: str | Path) -> ModuleType:
    """Import ``<directory>/function_app.py`` (its folder goes on sys.path for sibling imports)."""
    folder = Path(directory).resolve()
    path = folder / SCRIPT_FILE
    if not path.is_file():
        raise ConfigurationError(f"{folder} has no {SCRIPT_FILE} (the Python v2 programming model's entry file)")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    module_name = f"function_app_{uuid.uuid5(_ID_NAMESPACE, str(folder)).hex[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(module_name, None)
        raise
    return module


def index_module(module: ModuleType, directory: str | Path) -> IndexedApp:
    """The functions of every module-level FunctionApp of ``module``."""
    folder = str(Path(directory).resolve())
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionApp)]
    if not apps:
        raise ConfigurationError(f"{folder}/{SCRIPT_FILE} defines no azure.functions.FunctionApp at module level")
    functions: list[FunctionDefinition] = []
    registry = Registry()
    for app in apps:
        own = getattr(app, "durable_registry", None)
        if isinstance(own, Registry):
            registry.merge(own)
        for function in app.get_functions():
            functions.append(_definition(function, folder))
    names = [f.name.casefold() for f in functions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(f"function names must be unique in an app; repeated: {', '.join(duplicates)}")
    return IndexedApp(folder, tuple(functions), registry)


def index_function_app(directory: str | Path) -> IndexedApp:
    """Import and index ``<directory>/function_app.py``."""
    return index_module(load_function_app_module(directory), directory)


def _definition(function: Any, folder: str) -> FunctionDefinition:
    name = function.get_function_name()
    raw = tuple(function.get_raw_bindings())
    bindings = tuple(_binding(text, name) for text in raw)
    return FunctionDefinition(
        name=name,
        function_id=str(uuid.uuid5(_ID_NAMESPACE, f"{folder}/{name}")),
        directory=folder,
        script_file=str(Path(folder) / SCRIPT_FILE),
        raw_bindings=raw,
        bindings=bindings,
        user_function=function.get_user_function(),
    )


def _binding(text: str, function_name: str) -> BindingDefinition:
    data = json.loads(text)
    try:
        return BindingDefinition(str(data["name"]), str(data["type"]), str(data.get("direction", "IN")), data)
    except KeyError as exc:
        raise ConfigurationError(f"function {function_name}: a binding has no {exc.args[0]!r}: {text}") from None
