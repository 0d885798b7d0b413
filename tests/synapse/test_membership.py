"""Membership logic: cached validated reads, label filters, defaults, the empty-read guard."""

from __future__ import annotations

import json

from kazoo.exceptions import NoNodeError

from synapse_py.backend import Backend
from synapse_py.config import DiscoveryConfig, ServiceConfig
from synapse_py.desired import ExpiryGuard, desired_backends
from synapse_py.discovery.zookeeper_members import ServiceMembers


def svc(**kw) -> ServiceConfig:
    disc = DiscoveryConfig("zookeeper", ("z:1",), "/s", kw.pop("label_filters", ()))
    return ServiceConfig(name="web", discovery=disc, **kw)


class Store:
    """Node data by path, counting reads."""

    def __init__(self, nodes: dict[str, dict | bytes]):
        self.nodes = nodes
        self.reads = 0

    def read(self, names: list[str]) -> list[tuple[str, bytes | None, Exception | None]]:
        """All of `names` at once, as ZookeeperDiscovery.snapshot reads them."""
        self.reads += len(names)
        return [self._one(name) for name in names]

    def _one(self, name: str) -> tuple[str, bytes | None, Exception | None]:
        if name not in self.nodes:
            return name, None, NoNodeError()
        data = self.nodes[name]
        return name, data if isinstance(data, bytes) else json.dumps(data).encode(), None


def node(port: int, **kw) -> dict:
    return {"host": "10.0.0.1", "port": port, "name": f"i-{port}", **kw}


def test_each_child_is_read_once():
    store = Store({"a_1": node(1), "b_2": node(2)})
    m = ServiceMembers(svc())
    assert [b.port for b in m.backends(("a_1", "b_2"), store.read)] == [1, 2]
    store.nodes["c_3"] = node(3)
    assert [b.port for b in m.backends(("a_1", "b_2", "c_3"), store.read)] == [1, 2, 3]
    assert store.reads == 3 and m.reads == 3


def test_invalid_node_is_skipped_counted_once():
    store = Store({"a_1": node(1), "bad_2": b"{nope", "evil_3": node(3, host="x\nbackend y")})
    m = ServiceMembers(svc())
    for _ in range(3):
        assert [b.port for b in m.backends(("a_1", "bad_2", "evil_3"), store.read)] == [1]
    assert m.invalid == 2


def test_child_deleted_between_list_and_read_is_not_cached():
    store = Store({"a_1": node(1)})
    m = ServiceMembers(svc())
    assert [b.port for b in m.backends(("a_1", "gone_2"), store.read)] == [1]
    store.nodes["gone_2"] = node(2)  # a later listing with the same name is read again
    assert [b.port for b in m.backends(("a_1", "gone_2"), store.read)] == [1, 2]


def test_duplicate_host_port_is_one_backend():
    store = Store({"a_1": node(1), "a_2": node(1)})
    assert len(ServiceMembers(svc()).backends(("a_1", "a_2"), store.read)) == 1


def test_label_filters_apply_to_what_is_served():
    store = Store({"a_1": node(1, labels={"az": "a"}), "b_2": node(2, labels={"az": "b"})})
    s = svc(label_filters=({"label": "az", "value": "a", "condition": "equals"},))
    found = ServiceMembers(s).backends(("a_1", "b_2"), store.read)
    assert [b.port for b in desired_backends(s, found, None)] == [1]


def test_the_listing_order_is_kept():
    store = Store({f"n_{p}": node(p) for p in (5, 1, 3)})
    found = ServiceMembers(svc()).backends(("n_5", "n_1", "n_3"), store.read)
    assert [b.port for b in found] == [5, 1, 3]


def test_a_base64_name_that_does_not_decode_is_read():
    store = Store({"base64_garbage_0000000002": node(2), "base64_3_!!!_0000000003": node(3)})
    m = ServiceMembers(svc())
    assert [b.port for b in m.backends(tuple(store.nodes), store.read)] == [2, 3]
    assert store.reads == 2
    assert m.changed("base64_garbage_0000000002", "changed") is True  # its data is watched


def test_the_port_override_applies_before_duplicates_collapse():
    store = Store({"a_0000000001": node(8081, name="a"), "a_0000000000": node(8080, name="a")})
    s = svc(backend_port_override="7778")
    (only,) = ServiceMembers(s).backends(("a_0000000001", "a_0000000000"), store.read)
    assert (only.port, only.node, only.to_json()["port"]) == (7778, "a_0000000001", "7778")


def test_path_encoded_children_need_no_read():
    import base64

    payload = base64.urlsafe_b64encode(json.dumps(node(7)).encode()).decode()
    store = Store({})
    m = ServiceMembers(svc())
    name = f"base64_{len(payload)}_{payload}_0000000001"
    assert [b.port for b in m.backends((name,), store.read)] == [7]
    assert store.reads == 0


B1, B2 = Backend("10.0.0.1", 1, "a"), Backend("10.0.0.2", 2, "b")
D = Backend("10.9.9.9", 9, "default")


def test_empty_read_keeps_previous_unless_disabled():
    assert desired_backends(svc(), (), (B1, B2)) == (B1, B2)
    assert desired_backends(svc(use_previous_backends=False), (), (B1, B2)) == ()
    assert desired_backends(svc(), (B2,), (B1, B2)) == (B2,)


def test_default_servers():
    assert desired_backends(svc(default_servers=(D,)), (), None) == (D,)
    assert desired_backends(svc(default_servers=(D,)), (B1,), None) == (B1,)
    kept = desired_backends(svc(default_servers=(D,), keep_default_servers=True), (B1,), None)
    assert kept == (B1, D)


def test_use_previous_backends_applies_only_without_default_servers():
    s = svc(default_servers=(D,))
    assert desired_backends(s, (), (B1, B2)) == (D,)
    assert desired_backends(s, (), (B1, B2), ExpiryGuard(s)) == (D,)


def test_keep_default_servers_drops_a_default_with_a_nodes_host_port_and_name():
    same = Backend(B1.host, B1.port, B1.name, weight=7)
    other_name = Backend(B1.host, B1.port, "other")
    s = svc(default_servers=(same, other_name, D), keep_default_servers=True)
    assert desired_backends(s, (B1,), None) == (B1, other_name, D)


def test_keep_default_servers_get_the_port_override_fallback_defaults_do_not():
    s = svc(default_servers=(D,), keep_default_servers=True, backend_port_override=7001)
    assert [b.port for b in desired_backends(s, (B1.with_port(7001),), None)] == [7001, 7001]
    s = svc(default_servers=(D,), backend_port_override=7001)
    assert desired_backends(s, (), None) == (D,)


def test_label_filters_apply_to_default_servers():
    gold = Backend("10.9.9.8", 9, "gold", labels=(("tier", "gold"),))
    s = svc(
        default_servers=(D, gold),
        label_filters=({"label": "tier", "value": "gold", "condition": "equals"},),
    )
    assert desired_backends(s, (), None) == (gold,)
    assert desired_backends(s, (B1,), None) == ()  # nodes found, none passes: no fallback


def test_the_same_set_in_another_order_keeps_the_previous_order():
    assert desired_backends(svc(), (B2, B1), (B1, B2)) == (B1, B2)


def test_default_servers_in_force_are_replaced_at_once_not_held():
    s = svc(default_servers=tuple(b(p) for p in (11, 12, 13, 14)))
    guard = ExpiryGuard(s)
    assert desired_backends(s, (B1,), s.default_servers, guard, now=0) == (B1,)
    assert guard.deadline is None


def b(port: int) -> Backend:
    return Backend(host="10.0.0.1", port=port, name=f"i-{port}")


FOUR = tuple(b(p) for p in (1, 2, 3, 4))


def test_mass_expiry_holds_the_old_set_until_grace_ends():
    s = svc(mass_expiry_grace=10)
    guard = ExpiryGuard(s)
    assert desired_backends(s, FOUR[:1], FOUR, guard, now=100) == FOUR  # 3 of 4 gone: held
    assert guard.deadline == 110 and guard.holds == 1
    new = (b(9),)
    assert desired_backends(s, new, FOUR, guard, now=105) == (*FOUR, b(9))  # arrivals added
    assert desired_backends(s, new, FOUR, guard, now=110) == new  # grace over: applied
    assert guard.deadline is None


def test_mass_expiry_hold_ends_early_when_backends_come_back():
    s = svc(mass_expiry_grace=10)
    guard = ExpiryGuard(s)
    assert desired_backends(s, FOUR[:1], FOUR, guard, now=0) == FOUR
    assert desired_backends(s, FOUR[:3], FOUR, guard, now=1) == FOUR[:3]
    assert guard.deadline is None


def test_mass_expiry_threshold_and_what_is_not_a_drop():
    guard = ExpiryGuard(svc())
    assert desired_backends(svc(), FOUR[:2], FOUR, guard, now=0) == FOUR[:2]  # 50%: not over
    replaced = tuple(b(p) for p in (5, 6, 7, 8))
    assert desired_backends(svc(), replaced, FOUR, guard, now=0) == replaced  # a replacement
    strict = svc(mass_expiry_threshold=0.2, mass_expiry_min_count=1)
    assert desired_backends(strict, FOUR[:3], FOUR, ExpiryGuard(strict), now=0) == FOUR
    off = svc(mass_expiry_grace=0)
    assert desired_backends(off, FOUR[:1], FOUR, ExpiryGuard(off), now=0) == FOUR[:1]


def test_a_small_scale_down_is_applied_at_once_as_in_ruby():
    s = svc()  # mass_expiry_min_count 3: fewer leavers are never held
    three, five = FOUR[:3], (*FOUR, b(5))
    assert desired_backends(s, three[:1], three, ExpiryGuard(s), now=0) == three[:1]  # 2 of 3
    assert desired_backends(s, five[:2], five, ExpiryGuard(s), now=0) == five  # 3 of 5: held


def test_an_empty_read_is_left_to_use_previous_backends():
    s = svc(use_previous_backends=False)
    guard = ExpiryGuard(s)
    assert desired_backends(s, (), FOUR, guard, now=0) == ()
    assert guard.deadline is None
    held = ExpiryGuard(svc())
    desired_backends(svc(), FOUR[:1], FOUR, held, now=0)
    assert desired_backends(svc(), (), FOUR, held, now=1) == FOUR  # kept by use_previous_backends
    assert held.deadline is None


# -- the asynchronous read path (issue 11: changed in place, unreadable, connection trouble) --


def answer(m: ServiceMembers, store: Store, names=None) -> None:
    """Read what `m` wants from `store`, as the watcher would, and hand back each outcome."""
    wanted = names if names is not None else m.wanted()
    m.reading(wanted)
    for outcome in store.read(wanted):
        m.result(*outcome)


def test_a_changed_child_is_read_again_and_keeps_its_old_value_meanwhile():
    store = Store({"a_1": node(1)})
    m = ServiceMembers(svc())
    m.set_names(("a_1",))
    answer(m, store)
    store.nodes["a_1"] = node(2)
    assert m.changed("a_1", "changed") is True
    assert [b.port for b in m.current()] == [1]  # until the new read answers
    answer(m, store, ["a_1"])
    assert [b.port for b in m.current()] == [2]


def test_a_deleted_child_is_read_again_if_listed_again():
    store = Store({"a": node(1), "b": node(2)})
    m = ServiceMembers(svc())
    answer(m, store, m.set_names(("a", "b")))
    assert m.changed("a", "deleted") is False and m.changed("b", "deleted") is False
    assert len(m.current()) == 2  # the listing that follows decides, for both at once
    assert m.set_names(("b",)) == ["b"]  # a gone; b back under the same name: read again
    assert [b.port for b in m.current()] == [2]  # b's old value until the read answers
    store.nodes["b"] = node(5)
    answer(m, store, ["b"])
    assert [b.port for b in m.current()] == [5]


def test_connection_trouble_is_retried_and_the_old_value_stays():
    from kazoo.exceptions import ConnectionLoss, NoAuthError

    store = Store({"a_1": node(1), "b_2": node(2)})
    m = ServiceMembers(svc())
    answer(m, store, m.set_names(("a_1", "b_2")))
    m.changed("a_1", "lost")
    m.reading(["a_1", "c_3"])
    m.set_names(("a_1", "b_2", "c_3"))
    m.result("a_1", None, ConnectionLoss())
    m.result("c_3", None, NoAuthError())
    assert [b.port for b in m.current()] == [1, 2]  # a_1's old value; c_3 skipped
    assert m.invalid == 1 and m.take_retries() == ["a_1"] and m.retry == set()
    assert m.complete and m.wanted() == ["a_1"]  # stale: read again; c_3 is not retried


def test_a_lost_watch_is_read_on_reconnect_not_at_once():
    store = Store({"a_1": node(1)})
    m = ServiceMembers(svc())
    answer(m, store, m.set_names(("a_1",)))
    assert m.changed("a_1", "lost") is False
    assert m.wanted() == ["a_1"]


def test_newest_of_two_nodes_for_one_host_port_wins():
    store = Store({"x_0000000002": node(1, weight=0), "y_0000000010": node(1, weight=9)})
    m = ServiceMembers(svc())
    answer(m, store, m.set_names(("y_0000000010", "x_0000000002")))
    assert [b.weight for b in m.current()] == [9]
    m.set_names(("x_0000000002", "y_0000000010"))
    assert [b.weight for b in m.current()] == [9]  # whatever the listing's order


def test_a_child_read_again_with_the_same_data_is_not_decoded_or_counted_again():
    """zookeeper_poll reads every child at every poll: a bad node is skipped (and counted) once,
    a good one keeps its backend; new bytes are decoded again."""
    m = ServiceMembers(svc())
    good = b'{"host": "10.0.0.1", "port": 80, "name": "a"}'
    m.set_names(["a_1", "bad_2"])
    for _ in range(3):
        m.expire()
        wanted = m.wanted()
        m.reading(wanted)
        assert wanted == ["a_1", "bad_2"]
        m.result("a_1", good, None)
        m.result("bad_2", b"{not json", None)
    assert m.invalid == 1
    assert [b.host for b in m.current()] == ["10.0.0.1"]
    m.expire()
    m.reading(m.wanted())
    m.result("a_1", good.replace(b"10.0.0.1", b"10.0.0.2"), None)
    assert [b.host for b in m.current()] == ["10.0.0.2"]
