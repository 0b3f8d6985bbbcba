"""The [cluster] settings, credentials from the environment, subjects and the worker's pure
decisions (lease or not, retry or dead letter)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from headend.cluster import policy, subjects
from headend.cluster.settings import ClusterSettings, connect_options
from tests.cluster.jobs import down_report, job, ok_report


def test_defaults() -> None:
    s = ClusterSettings()
    assert s.urls == ["nats://127.0.0.1:4222"]
    assert (s.stream, s.dead_letter_stream, s.results_stream) == (
        "HEADEND_JOBS",
        "HEADEND_DEAD",
        "HEADEND_RESULTS",
    )
    assert s.lease_renew_s == 10.0 and s.worker_ttl_s == 15.0


def test_several_urls() -> None:
    s = ClusterSettings(nats_url=["nats://a:4222", "nats://b:4222"])
    assert s.urls == ["nats://a:4222", "nats://b:4222"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ack_wait_s": 0}, "ack_wait_s"),
        ({"max_deliver": 0}, "max_deliver"),
        ({"lease_ttl_s": -1}, "lease_ttl_s"),
        ({"nak_backoff_s": []}, "nak_backoff_s"),
        ({"nak_backoff_s": [1, 0]}, "positive"),
        ({"stream": "JOBS.X"}, "stream"),
        ({"dead_letter_stream": "HEADEND_JOBS"}, "must differ"),
        ({"worker_bucket": "headend_leases"}, "must differ"),
        ({"nats_url": "http://host"}, "nats://"),
        ({"nats_url": []}, "at least one"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ClusterSettings.model_validate(fields)


def test_a_password_in_the_url_is_refused_and_not_repeated() -> None:
    with pytest.raises(ValidationError) as caught:
        ClusterSettings(nats_url="nats://user:Sup3rSecret@host:4222")
    assert "HEADEND_NATS_PASSWORD" in str(caught.value)
    assert "Sup3rSecret" not in str(caught.value)


def test_connect_options_from_the_environment() -> None:
    s = ClusterSettings()
    assert connect_options(s, {}) == {"servers": ["nats://127.0.0.1:4222"]}
    both = {"HEADEND_NATS_USER": "u", "HEADEND_NATS_PASSWORD": "p"}
    assert connect_options(s, both) | {} == {
        "servers": s.urls,
        "user": "u",
        "password": "p",
    }
    assert connect_options(s, {"HEADEND_NATS_TOKEN": "t"})["token"] == "t"
    assert connect_options(s, {"HEADEND_NATS_CREDS": "/x.creds"})["user_credentials"] == "/x.creds"
    with pytest.raises(ValueError, match="go together") as caught:
        connect_options(s, {"HEADEND_NATS_PASSWORD": "Sup3rSecret"})
    assert "Sup3rSecret" not in str(caught.value)
    with pytest.raises(ValueError, match="only one"):
        connect_options(s, {**both, "HEADEND_NATS_TOKEN": "t"})


def test_credentials_never_in_the_model() -> None:
    s = ClusterSettings()
    assert "password" not in repr(s).lower() and "token" not in repr(s).lower()


def test_subjects() -> None:
    assert subjects.jobs("north", "bulk") == "headend.north.jobs.bulk"
    assert subjects.jobs("north", "priority") == "headend.north.jobs.priority"
    assert subjects.dead("north", "bulk") == "headend.north.dead.bulk"
    assert subjects.results("north", "abc-1") == "headend.north.results.abc-1"
    assert subjects.consumer_name("headend-workers", "bulk") == "headend-workers-bulk"
    with pytest.raises(ValueError, match="lane"):
        subjects.jobs("north", "express")


@pytest.mark.parametrize("site", ["", "north.east", "a b", "x*", "y>", "é"])
def test_site_names_must_be_one_token(site: str) -> None:
    with pytest.raises(ValueError, match="cannot be part of a NATS subject"):
        subjects.jobs(site, "bulk")


def test_ids_become_distinct_tokens() -> None:
    ids = ["tcp:10.0.0.1:4059", "tcp=3A10.0.0.1=3A4059", "a.b", "a b", "a_b", "ü"]
    tokens = [subjects.token(i) for i in ids]
    assert len(set(tokens)) == len(ids)
    for t in tokens:
        assert all(c.isalnum() or c in "_-=" for c in t) and t.isascii()


def test_lease_rule() -> None:
    assert policy.needs_lease(job("serial-1"))
    assert not policy.needs_lease(job("tcp-gw", concurrency=4))


def test_backoff_by_delivery() -> None:
    backoff = [2.0, 10.0, 30.0]
    assert [policy.nak_delay(backoff, n) for n in (1, 2, 3, 4, 9)] == [2, 10, 30, 30, 30]


def test_settle() -> None:
    j = job("c")
    assert policy.channel_failure(ok_report(j)) is None
    reason = policy.channel_failure(down_report(j))
    assert reason is not None and reason.startswith("channel down")
    assert policy.settle(None, 5, 5, [1.0]) == policy.Ack()
    assert policy.settle("x", 1, 3, [1.0, 4.0]) == policy.Retry(1.0, "x")
    assert policy.settle("x", 2, 3, [1.0, 4.0]) == policy.Retry(4.0, "x")
    last = policy.settle("x", 3, 3, [1.0])
    assert isinstance(last, policy.DeadLetter) and "after 3 deliveries" in last.reason


def test_failed_report_names_every_meter() -> None:
    j = job("c", meters=3)
    report = policy.failed_report(j, "channel down (after 3 deliveries)")
    assert [m.meter_id for m in report.meters] == j.meter_ids
    assert {m.cause for m in report.meters} == {"dead letter"}
