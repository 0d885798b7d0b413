"""SlotTable: stable slots, doubling when full, halving (compacted) at a quarter full or less."""

from __future__ import annotations

from synapse_py.backend import Backend
from synapse_py.generators.haproxy_slots import MIN_SLOTS, SlotTable


def backends(*ports: int) -> list[Backend]:
    return [Backend("10.0.0.1", p, f"b{p}") for p in ports]


def slots(layout) -> dict[int, int]:
    """port -> slot index."""
    return {b.port: i for i, b in enumerate(layout) if b is not None}


def test_known_backends_keep_their_slot_and_a_full_table_doubles():
    table = SlotTable()
    first = slots(table.assign(backends(*range(1, 6))))
    grown = table.assign(backends(*range(1, 10)))
    assert table.size == 2 * MIN_SLOTS and len(grown) == table.size
    assert first.items() <= slots(grown).items()


def test_a_table_a_quarter_full_or_less_halves_and_keeps_every_live_backend():
    table = SlotTable()
    table.assign(backends(*range(1, 41)))
    assert table.size == 64
    before = slots(table.assign(backends(*range(1, 41))))
    kept = [1, 2, 39, 40, 17]  # 5 of 64: shrinks to 16; 39 and 40 sat above slot 16
    layout = table.assign(backends(*kept))
    assert table.size == 16 and len(layout) == 16
    after = slots(layout)
    assert set(after) == set(kept) and len(set(after.values())) == len(kept)
    assert all(after[p] == before[p] for p in kept if before[p] < 16)  # not moved if it fits


def test_the_gap_between_the_thresholds_keeps_a_steady_membership_from_flapping():
    table = SlotTable()
    table.assign(backends(*range(1, 10)))
    assert table.size == 16
    for count in (5, 9, 5, 16, 5):  # above a quarter and at most full: no change of structure
        table.assign(backends(*range(1, count + 1)))
        assert table.size == 16
    table.assign(backends(*range(1, 5)))  # 4 of 16
    assert table.size == 8


def test_a_flood_added_then_removed_leaves_the_minimum():
    table = SlotTable()
    table.assign(backends(*range(1, 5001)))
    assert table.size == 8192
    layout = table.assign(backends(7, 4999))
    assert table.size == MIN_SLOTS and set(slots(layout)) == {7, 4999}
    assert table.assign([]) == [None] * MIN_SLOTS
