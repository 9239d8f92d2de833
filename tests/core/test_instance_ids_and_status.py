from __future__ import annotations

import re

import pytest

from azure_durable_ext.core.errors import InvalidInstanceIdError
from azure_durable_ext.core.instance_ids import new_instance_id, validate_instance_id
from azure_durable_ext.core.status import RUNNING_STATES, TERMINAL_STATES, OrchestrationStatus
from azure_durable_ext.core.task_name import TaskName


def test_new_instance_id_is_guid_n_format() -> None:
    ids = {new_instance_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ("", "must not be empty"),
        ("@counter@k1", "must not start with '@'"),
        ("a/b", "must not contain '/'"),
        ("a\\b", "must not contain '\\\\\\\\'"),
        ("a#b", "must not contain '#'"),
        ("a?b", "must not contain '\\?'"),
        ("a\x01b", "control characters"),
        ("a\x7fb", "control characters"),
        ("x" * 257, "257 characters long; the limit is 256"),
    ],
)
def test_invalid_instance_ids_name_the_rule(bad: str, rule: str) -> None:
    with pytest.raises(InvalidInstanceIdError, match=rule) as info:
        validate_instance_id(bad)
    assert info.value.grpc_status == "INVALID_ARGUMENT"
    assert info.value.http_status == 400


@pytest.mark.parametrize("good", ["abc", "x" * 256, "order:42", "Ünïcode-id", "a b"])
def test_valid_instance_ids(good: str) -> None:
    assert validate_instance_id(good) == good


def test_status_names_and_wire_numbers() -> None:
    assert OrchestrationStatus.PENDING.value == 6
    assert str(OrchestrationStatus.CONTINUED_AS_NEW) == "ContinuedAsNew"
    assert OrchestrationStatus.from_durable_name("continuedasnew") is OrchestrationStatus.CONTINUED_AS_NEW
    with pytest.raises(ValueError, match="unknown runtime status 'Bogus'"):
        OrchestrationStatus.from_durable_name("Bogus")
    assert RUNNING_STATES.isdisjoint(TERMINAL_STATES)
    assert OrchestrationStatus.FAILED.is_terminal and not OrchestrationStatus.SUSPENDED.is_terminal


def test_task_name() -> None:
    assert TaskName.of("Hello") == TaskName("Hello", None)
    assert TaskName.of(TaskName("Hello", "1.2.0")).version == "1.2.0"
    assert str(TaskName("Hello", "1.2.0")) == "Hello@1.2.0"
    with pytest.raises(TypeError, match="TaskName.name must be a str"):
        TaskName(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TaskName.of(3.5)  # type: ignore[arg-type]
