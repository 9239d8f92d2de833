"""The orchestrations the crash tests run, shared by the test process and the child that dies.

``hello_sequence`` calls three activities in turn; ``fan_out`` schedules ``count`` activities
in one episode (over 99 of them make that episode's history span two table batches);
``count_on`` calls an activity and continues as new until its input reaches 3;
``mend_then_greet`` fails until a test mends its key, then can be rewound.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

from azure_durable_ext.core.options import PartitionLeaseOptions
from azure_durable_ext.core.orchestration import Registry

#: Partition leases of a dead host expire within seconds (the defaults hold a fresh claim for
#: a minute), so the next host takes the partitions over quickly.
SHORT_LEASES = PartitionLeaseOptions(
    acquire_interval=0.5, renew_interval=1.0, lease_interval=3.0, claim_interval=3.0, busy_interval=0.5
)

CITIES = ("Tokyo", "Seattle", "London")


def say_hello(ctx: Any, city: str) -> str:
    return f"Hello {city}!"


def double(ctx: Any, value: int) -> int:
    return value * 2


def hello_sequence(ctx: Any, _input: Any) -> Generator[Any, Any, list[str]]:
    results = []
    for city in CITIES:
        results.append((yield ctx.call_activity("say_hello", input=city)))
    return results


def fan_out(ctx: Any, count: int) -> Generator[Any, Any, int]:
    values = yield ctx.task_all([ctx.call_activity("double", input=i) for i in range(count)])
    return sum(values)


COUNT_TO = 3


def count_on(ctx: Any, value: int) -> Generator[Any, Any, int | None]:
    if value < COUNT_TO:
        yield ctx.call_activity("double", input=value)
        ctx.continue_as_new(value + 1)
        return None
    return value


#: Keys whose ``fails_until_mended`` activity succeeds (a test mends one before a rewind).
MENDED: set[str] = set()


def fails_until_mended(ctx: Any, key: str) -> str:
    if key not in MENDED:
        raise RuntimeError(f"{key} is broken")
    return f"{key} mended"


def mend_then_greet(ctx: Any, key: str) -> Generator[Any, Any, list[str]]:
    first = yield ctx.call_activity("say_hello", input=CITIES[0])
    second = yield ctx.call_activity("fails_until_mended", input=key)
    return [first, second]


def expected_output(name: str, input_value: Any) -> Any:
    if name == "hello_sequence":
        return [f"Hello {city}!" for city in CITIES]
    if name == "count_on":
        return COUNT_TO
    if name == "mend_then_greet":
        return [f"Hello {CITIES[0]}!", f"{input_value} mended"]
    return sum(2 * i for i in range(int(input_value)))


def register_on_official_worker(worker: Any) -> Any:
    """The same orchestrator and activities on a ``durabletask`` TaskHubGrpcWorker."""
    worker.add_orchestrator(hello_sequence)
    worker.add_activity(say_hello)
    return worker


def registry() -> Registry:
    reg = Registry()
    reg.add_orchestrator(hello_sequence, "hello_sequence")
    reg.add_orchestrator(fan_out, "fan_out")
    reg.add_orchestrator(count_on, "count_on")
    reg.add_orchestrator(mend_then_greet, "mend_then_greet")
    reg.add_activity(fails_until_mended, "fails_until_mended")
    reg.add_activity(say_hello, "say_hello")
    reg.add_activity(double, "double")
    return reg
