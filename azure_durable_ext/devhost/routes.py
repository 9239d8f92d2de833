"""HTTP trigger route templates (``orchestrators/{name}``, ``items/{id?}``, ``files/{*path}``,
``{n:int}``) and matching a request path to a function."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigurationError
from .keys import AuthLevel
from .loaded_functions import DURABLE_CLIENT, HTTP_TRIGGER, LoadedFunction

#: Azure Functions' default routePrefix (host.json extensions.http.routePrefix).
ROUTE_PREFIX = "api"


def prefixed_path(prefix: str, path: str) -> str:
    """``/<prefix>/<path>``, or ``/<path>`` when the prefix is empty."""
    return f"/{prefix}/{path}" if prefix else f"/{path}"
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+)(?:\([^)]*\))?)?(\?)?\}")
_CONSTRAINTS = {"int": r"-?\d+", "long": r"-?\d+", "bool": r"(?i:true|false)", "guid": r"[0-9A-Fa-f-]{32,36}",
                "alpha": r"[A-Za-z]+"}


def compile_template(template: str) -> re.Pattern[str]:
    """A regex for a route template (without the route prefix), parameters as named groups."""
    pattern = ""
    pos = 0
    for m in _PARAM.finditer(template):
        pattern += re.escape(template[pos:m.start()])
        catch_all, name, constraint, optional = m.groups()
        if constraint and constraint.lower() not in _CONSTRAINTS:
            raise ConfigurationError(f"route {template!r}: unknown constraint {constraint!r} on {{{name}}}")
        body = ".*" if catch_all else _CONSTRAINTS[constraint.lower()] if constraint else "[^/]+"
        group = f"(?P<{name}>{body})"
        if optional:
            # "items/{id?}" also matches "items" and "items/".
            if pattern.endswith("/"):
                pattern = pattern[:-1] + f"(?:/{group})?/?"
            else:
                pattern += f"{group}?"
        else:
            pattern += group
        pos = m.end()
    pattern += re.escape(template[pos:])
    return re.compile(f"^{pattern}$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """One HTTP-triggered function's route."""

    function: LoadedFunction
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: every method
    auth_level: AuthLevel
    trigger_name: str
    #: The function's durableClient bindings, looked up once (every request passes them on).
    client_bindings: tuple[dict[str, Any], ...] = ()

    @classmethod
    def of(cls, function: LoadedFunction) -> "HttpRoute":
        trigger = function.trigger
        if trigger is None or trigger["type"] != HTTP_TRIGGER:
            raise ConfigurationError(f"function {function.name} is not HTTP-triggered")
        template = str(trigger.get("route") or function.name).strip("/")
        methods = trigger.get("methods")
        return cls(
            function=function,
            template=template,
            pattern=compile_template(template),
            methods=frozenset(m.upper() for m in methods) if methods else None,
            auth_level=AuthLevel.parse(trigger.get("authLevel")),
            trigger_name=str(trigger["name"]),
            client_bindings=tuple(function.bindings_of(DURABLE_CLIENT)),
        )

    def url(self, origin: str, prefix: str = ROUTE_PREFIX) -> str:
        return f"{origin}{prefixed_path(prefix, self.template)}"


class RouteTable:
    """Routes in the order Functions resolves them: literal routes before templated ones."""

    def __init__(self, routes: list[HttpRoute]) -> None:
        self.routes = sorted(routes, key=lambda r: (r.template.count("{"), -len(r.template)))

    def match(self, path: str, method: str) -> tuple[HttpRoute | None, dict[str, str], bool]:
        """(route, route params, path matched at all) for ``path`` (below the route prefix)."""
        path_matched = False
        for route in self.routes:
            m = route.pattern.match(path.strip("/"))
            if m is None:
                continue
            path_matched = True
            if route.methods is None or method.upper() in route.methods:
                return route, {k: v for k, v in m.groupdict().items() if v is not None}, True
        return None, {}, path_matched
