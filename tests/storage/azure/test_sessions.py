"""SessionTable bookkeeping (pure, no storage): the buffered-message count the pollers
check on every wake-up, and the flag that lets them start receiving."""
from __future__ import annotations

from azure_durable_ext.storage.azure.message_queue import ReceivedMessage
from azure_durable_ext.storage.azure.sessions import SessionTable


def _message(message_id: str) -> ReceivedMessage:
    return ReceivedMessage(queue=None, message_id=message_id, pop_receipt="r", dequeue_count=1, body="", data=None)  # type: ignore[arg-type]


def _buffered(table: SessionTable) -> int:
    return sum(len(m) for m in table._pending.values())


async def test_the_pending_count_follows_adds_takes_and_drops() -> None:
    table = SessionTable()
    for instance_id, message_id in [("a", "1"), ("a", "2"), ("b", "3"), ("c", "4"), ("c", "5")]:
        table.add(instance_id, _message(message_id))
    table.add("a", _message("2"))  # a re-received copy replaces the older receipt
    assert table.pending_count == _buffered(table) == 5
    taken = await table.take(0.0)
    assert taken is not None and taken[0] == "a" and len(taken[1]) == 2
    assert table.pending_count == _buffered(table) == 3
    table.add("a", _message("6"))  # arrives while "a" is locked
    assert table.pending_count == _buffered(table) == 4
    assert [m.message_id for m in table.drop_where(lambda i: i == "c")] == ["4", "5"]
    assert table.pending_count == _buffered(table) == 2
    table.release("a")
    assert len(table.drop_all()) == 2 and table.pending_count == _buffered(table) == 0


async def test_the_pollers_are_let_in_by_the_first_take() -> None:
    table = SessionTable()
    assert not table.consumed.is_set()
    assert await table.take(0.0) is None
    assert table.consumed.is_set()
