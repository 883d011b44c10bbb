"""Background work every few seconds (kitchen/every.py): a stop waits for the turn in hand."""

from __future__ import annotations

import asyncio

import pytest

from kitchen.every import Every

pytestmark = pytest.mark.anyio


async def test_a_stop_lets_the_turn_in_hand_finish_and_runs_no_more() -> None:
    done: list[str] = []

    async def turn() -> None:
        await asyncio.sleep(0.2)
        done.append("turn")

    every = Every(60, turn, "test", at_once=True)
    await every.start()
    await asyncio.sleep(0.05)  # mid-turn
    await every.stop()
    assert done == ["turn"]


async def test_a_failed_turn_is_followed_by_the_next() -> None:
    turns: list[int] = []

    async def turn() -> None:
        turns.append(len(turns))
        if len(turns) == 1:
            raise RuntimeError("the database is away")

    every = Every(0.01, turn, "test", at_once=True)
    await every.start()
    await asyncio.sleep(0.2)
    await every.stop()
    assert len(turns) >= 2


async def test_a_late_start_waits_a_turn_first() -> None:
    turns: list[int] = []

    async def turn() -> None:
        turns.append(1)

    every = Every(60, turn, "test", at_once=False)
    await every.start()
    await asyncio.sleep(0.05)
    await every.stop()
    assert turns == []
