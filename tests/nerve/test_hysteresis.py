"""Rise/fall hysteresis with Ruby nerve's semantics."""

from __future__ import annotations

import pytest

from nerve_py.hysteresis import Hysteresis


def feed(h: Hysteresis, results: str) -> list[bool | None]:
    """Feed 'P'/'F' results; return what update() said after each."""
    return [h.update(r == "P") for r in results]


def test_the_first_result_is_adopted_outright_as_ruby_does():
    up, down = Hysteresis(rise=3, fall=2), Hysteresis(rise=3, fall=2)
    assert not up.known and not up.up
    assert feed(up, "P") == [True]
    assert feed(down, "F") == [False]
    assert up.up and up.known and not down.up and down.known


def test_rise_and_fall_apply_after_the_first_result():
    h = Hysteresis(rise=3, fall=2)
    assert feed(h, "PFFPPP") == [True, None, False, None, None, True]


def test_an_initial_state_given_needs_rise_passes():
    h = Hysteresis(rise=3, fall=2, initial=False)
    assert h.known and not h.up
    assert feed(h, "PPP") == [None, None, True]
    assert h.up


def test_falls_after_fall_consecutive_failures():
    h = Hysteresis(rise=1, fall=2, initial=True)
    assert feed(h, "FF") == [None, False]
    assert not h.up


def test_default_rise_and_fall_of_one_follow_every_result():
    h = Hysteresis(rise=1, fall=1, initial=False)
    assert feed(h, "PFP") == [True, False, True]


@pytest.mark.parametrize(
    ("rise", "fall", "results", "up_after_each"),
    [
        (2, 2, "PFPFPF", "000000"),  # flapping never reaches rise
        (2, 2, "PPFPFF", "011110"),  # one failure in between does not reach fall
        (3, 1, "PPFPPP", "000001"),  # a failure restarts the rise count
        (1, 3, "PFFPFFF", "1111110"),
    ],
)
def test_only_consecutive_results_count(rise, fall, results, up_after_each):
    h = Hysteresis(rise=rise, fall=fall, initial=False)
    seen = []
    for r in results:
        h.update(r == "P")
        seen.append("1" if h.up else "0")
    assert "".join(seen) == up_after_each


def test_update_reports_only_transitions():
    h = Hysteresis(rise=2, fall=2, initial=False)
    said = feed(h, "PPPPFFFF")
    assert said == [None, True, None, None, None, False, None, None]


def test_initial_up_needs_fall_failures_to_go_down():
    h = Hysteresis(rise=2, fall=3, initial=True)
    assert feed(h, "FFPFFF") == [None, None, None, None, None, False]


@pytest.mark.parametrize(("rise", "fall"), [(0, 1), (1, 0), (-1, 2)])
def test_rise_and_fall_must_be_positive(rise, fall):
    with pytest.raises(ValueError, match="rise and fall"):
        Hysteresis(rise=rise, fall=fall)
