"""`--config-overlay`'s merge, the same for nerve-py and synapse-py."""

from __future__ import annotations

from smartstack_common.overlay import merge_overlay


def test_objects_merge_key_by_key_recursively_in_the_base_order():
    base = {"a": 1, "svc": {"host": "h", "port": 1}}
    merged = merge_overlay(base, {"svc": {"port": 2, "envoy": {"x": 1}}, "b": 2})
    assert merged == {"a": 1, "svc": {"host": "h", "port": 2, "envoy": {"x": 1}}, "b": 2}
    assert list(merged) == ["a", "svc", "b"] and list(merged["svc"]) == ["host", "port", "envoy"]


def test_lists_and_values_replace_whole_and_nothing_is_deleted():
    base = {"checks": [{"type": "tcp"}, {"type": "http"}], "weight": 1, "keep": True}
    merged = merge_overlay(base, {"checks": [{"type": "tcp"}], "weight": None})
    assert merged == {"checks": [{"type": "tcp"}], "weight": None, "keep": True}


def test_an_object_replaces_a_value_and_a_value_replaces_an_object():
    assert merge_overlay({"a": 1, "b": {"c": 1}}, {"a": {"x": 1}, "b": 2}) == {
        "a": {"x": 1},
        "b": 2,
    }


def test_the_inputs_are_left_as_they_were():
    base, overlay = {"s": {"p": 1}}, {"s": {"p": 2}}
    merge_overlay(base, overlay)
    assert base == {"s": {"p": 1}} and overlay == {"s": {"p": 2}}
