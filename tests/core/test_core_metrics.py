"""/metrics: the Prometheus text format with the product's figures; open in development,
behind METRICS_TOKEN in production (404 when no token is configured)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from medgrader.app import create_app
from medgrader.config import Environment, Settings
from medgrader.db.resolve import Database
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import make_event, post_event, retrieve_session, start_checkout
from tests.support.accounts import Account


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(text: str, name: str, **labels: str) -> float:
    return _samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.e2e  # /health is 200 and job_worker_alive 1 only with a running job worker
def test_metrics_count_requests_by_route_template_and_status(client: httpx.Client) -> None:
    before = client.get("/metrics").text
    client.get("/health")
    client.get("/api/credit-packages/00000000-0000-0000-0000-000000000000")  # 404
    after = client.get("/metrics")
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    name = "medgrader_http_requests_total"
    for route, status in (("/health", "200"), ("/api/credit-packages/{package_id}", "404")):
        labels = {"route": route, "method": "GET", "status": status}
        assert _value(text, name, **labels) == _value(before, name, **labels) + 1
    # Latency histogram by route, and figures read at scrape time.
    assert (
        _value(text, "medgrader_http_request_duration_seconds_count", route="/health", method="GET")
        >= 1
    )
    assert _value(text, "medgrader_db_pool_connections", pool="webhooks", state="max") >= 1
    assert _value(text, "medgrader_job_worker_alive") == 1
    assert "medgrader_jobs{" in text


def test_metrics_count_webhook_events_fulfilments_and_spends(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, invariants: None,
) -> None:  # fmt: skip
    before = client.get("/metrics").text
    created = start_checkout(client, student, packages["starter"]["id"])
    stripe_emulator.control.pay(created["sessionId"])
    paid = retrieve_session(stripe_emulator, created["sessionId"])
    event = make_event("checkout.session.completed", paid)
    assert post_event(client, event).status_code == 200
    assert post_event(client, event).status_code == 200  # the same event again
    assert post_event(client, event, signature="t=1,v1=bad").status_code == 400
    spent = client.post(
        "/api/credits/spend", json={"amount": 3, "reason": "metrics"},
        headers={**student.headers, "Idempotency-Key": f"metrics-{student.id}"},
    )  # fmt: skip
    assert spent.status_code == 201, spent.text
    text = client.get("/metrics").text

    def grew(name: str, **labels: str) -> float:
        return _value(text, name, **labels) - _value(before, name, **labels)

    kind = "checkout.session.completed"
    # The emulator's own delivery may have fulfilled first: then ours is already_completed.
    assert (
        grew("medgrader_webhook_events_total", type=kind, outcome="fulfilled")
        + grew("medgrader_webhook_events_total", type=kind, outcome="already_completed")
        >= 1
    )
    assert grew("medgrader_webhook_events_total", type=kind, outcome="duplicate") >= 1
    assert grew("medgrader_webhook_events_total", type="unverified", outcome="rejected") == 1
    assert grew("medgrader_fulfilments_total", outcome="fulfilled") >= 1
    assert grew("medgrader_fulfilled_credits_total") >= 100
    assert grew("medgrader_spends_total", outcome="spent") >= 1
    assert grew("medgrader_spent_credits_total") >= 3


@pytest.fixture
def production_app(
    settings: Settings,
    database: Database,
    serve: Callable[[Any], Any],
    request: pytest.FixtureRequest,
) -> Iterator[httpx.Client]:
    token = getattr(request, "param", None)
    changes = {
        "environment": Environment.PRODUCTION,
        "run_worker_in_process": False,
        "metrics_token": token,
    }
    # Production's own password hashing cost (the tests' cheap one is refused there).
    kept = {k: v for k, v in settings.model_dump().items() if not k.startswith("password_hash_")}
    production = Settings(
        **{**kept, **changes},  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    with serve(create_app(production, database=database)).client() as http:
        yield http


def test_metrics_do_not_exist_in_production_without_a_token(
    production_app: httpx.Client,
) -> None:
    response = production_app.get("/metrics")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "medgrader_" not in response.text


@pytest.mark.parametrize("production_app", ["metrics-token-0123456789"], indirect=True)
def test_metrics_in_production_need_the_bearer_token(production_app: httpx.Client) -> None:
    missing = production_app.get("/metrics")
    wrong = production_app.get("/metrics", headers={"Authorization": "Bearer nope"})
    right = production_app.get(
        "/metrics", headers={"Authorization": "Bearer metrics-token-0123456789"}
    )
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "medgrader_" not in missing.text + wrong.text
    assert right.status_code == 200
    assert "medgrader_http_requests_total" in right.text


def test_job_counts_by_queue_and_status_come_from_the_queue_table(
    client: httpx.Client, db: psycopg.Connection
) -> None:
    rows = db.execute(
        "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2"
    ).fetchall()
    text = client.get("/metrics").text
    for queue, status, count in rows:
        # Jobs move on while we look: the figure is from the same moment, give or take a few.
        assert abs(_value(text, "medgrader_jobs", queue=queue, status=status) - count) <= 5


def test_metrics_count_hold_actions_and_their_outcomes(
    client: httpx.Client, student: Account, invariants: None
) -> None:
    from tests.holds.support import act, create, new_hold

    before = client.get("/metrics").text
    hold = new_hold(client, student, 10)
    assert act(client, student, hold["holdId"], "release").status_code == 200
    refused = create(client, student, 5000)  # more than the balance
    assert refused.status_code == 402, refused.text
    text = client.get("/metrics").text

    def grew(**labels: str) -> float:
        name = "medgrader_holds_total"
        return _value(text, name, **labels) - _value(before, name, **labels)

    assert grew(action="create", outcome="ok") == 1
    assert grew(action="release", outcome="ok") == 1
    assert grew(action="create", outcome=refused.json()["code"]) == 1
