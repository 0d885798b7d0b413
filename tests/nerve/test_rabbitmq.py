"""The rabbitmq check against a real broker (Debian's rabbitmq-server) on loopback."""

from __future__ import annotations

import json
import time

import pytest
from support import rabbitmq, ruby_reference
from support.ports import free_port

from nerve_py.checks import CheckConfigError, build_check, run_check

LOOPBACK = "127.0.0.1"
RUBY_EXAMPLE = ruby_reference.ROOT / "examples" / "nerve" / "example"


def probe(port: int, **conf) -> tuple[bool, str]:
    check = build_check({"type": "rabbitmq", "timeout": 5, **conf}, LOOPBACK, port)
    try:
        return run_check(check)
    finally:
        check.close()


def test_ruby_defaults_guest_guest_on_vhost_slash_queue_nerve():
    check = build_check({"type": "rabbitmq"}, LOOPBACK, 5672)
    assert (check.username, check.password, check.vhost, check.queue) == (
        "guest",
        "guest",
        "/",
        "nerve",
    )
    assert (check.host, check.port, check.timeout) == (LOOPBACK, 5672, 0.1)


def test_the_ruby_example_rabbitmq_check_builds():
    conf = json.loads((RUBY_EXAMPLE / "nerve.conf.json").read_text())
    service = conf["services"]["rabbitmq_service"]
    check = build_check(service["checks"][0], service["host"], service["port"])
    assert (check.username, check.password, check.port) == ("guest", "guest", 5672)


@pytest.mark.parametrize(
    ("conf", "key"),
    [
        ({"username": ""}, "username"),
        ({"password": 5}, "password"),
        ({"vhost": 1}, "vhost"),
        ({"queue": "q" * 300}, "queue"),
        ({"user": "guest"}, "user"),
    ],
)
def test_bad_keys_are_rejected_naming_the_key(conf, key):
    with pytest.raises(CheckConfigError, match=repr(key)):
        build_check({"type": "rabbitmq", **conf}, LOOPBACK, 5672)


def test_a_password_of_the_wrong_type_is_not_echoed():
    with pytest.raises(CheckConfigError) as raised:
        build_check({"type": "rabbitmq", "password": 123456789}, LOOPBACK, 5672)
    assert "123456789" not in str(raised.value)


def test_passes_when_a_message_goes_round_the_queue(rabbitmq_broker):
    assert probe(rabbitmq_broker.port) == (True, "ok")


def test_repeated_checks_pass_and_stay_fast(rabbitmq_broker):
    started = time.monotonic()
    assert [probe(rabbitmq_broker.port)[0] for _ in range(5)] == [True] * 5
    print(f"5 rabbitmq checks in {time.monotonic() - started:.3f}s")
    assert time.monotonic() - started < 5


def test_other_user_vhost_and_queue(rabbitmq_broker):
    assert probe(
        rabbitmq_broker.port, username="nerve", password="s3cret", vhost="checks", queue="hc"
    ) == (
        True,
        "ok",
    )


def test_a_wrong_password_fails_with_the_brokers_reason(rabbitmq_broker):
    ok, reason = probe(rabbitmq_broker.port, password="wrong")
    assert not ok
    assert reason.startswith("RabbitMQ closed the connection: 403 ACCESS_REFUSED")
    assert "wrong" not in reason


def test_a_missing_vhost_fails(rabbitmq_broker):
    ok, reason = probe(rabbitmq_broker.port, vhost="nowhere")
    assert not ok
    assert reason.startswith("RabbitMQ closed the connection: 530 NOT_ALLOWED")


def test_a_user_without_access_to_the_vhost_fails(rabbitmq_broker):
    ok, reason = probe(rabbitmq_broker.port, username="nerve", password="s3cret", vhost="/")
    assert (ok, reason[:45]) == (False, "RabbitMQ closed the connection: 530 NOT_ALLOW")


def test_a_queue_that_cannot_be_declared_as_ruby_does_fails(rabbitmq_broker):
    ok, reason = probe(
        rabbitmq_broker.port, queue=rabbitmq.DURABLE_QUEUE
    )  # durable: not Bunny's default
    assert not ok
    assert reason.startswith("RabbitMQ closed the channel: 406 PRECONDITION_FAILED")


def test_nothing_listening_is_connection_refused():
    assert probe(free_port()) == (False, "connection refused")


@pytest.mark.timeout(60)
def test_a_hung_broker_fails_within_the_timeout(rabbitmq_broker):
    rabbitmq_broker.pause()
    try:
        started = time.monotonic()
        assert probe(rabbitmq_broker.port, timeout=0.5) == (False, "timed out after 0.5s")
        assert time.monotonic() - started < 2
    finally:
        rabbitmq_broker.resume()
    assert probe(rabbitmq_broker.port)[0]
