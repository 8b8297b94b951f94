"""The credit-package catalogue over HTTP: public reads, admin writes, validation, soft delete."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from tests.support.accounts import Account


def unique_name(prefix: str = "Pack") -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def create(client: httpx.Client, admin: Account, **fields: object) -> httpx.Response:
    body = {"name": unique_name(), "credits": 100, "priceInCents": 1000, **fields}
    return client.post("/api/credit-packages", json=body, headers=admin.headers)


def package_count(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM credit_packages").fetchone()
    assert row is not None
    return int(row[0])


def test_admin_creates_and_anyone_reads(client: httpx.Client, admin: Account) -> None:
    name = unique_name("Exam Pack")
    response = create(client, admin, name=name, description="For exams", credits=250,
                      priceInCents=2250)  # fmt: skip
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == name
    assert created["description"] == "For exams"
    assert created["credits"] == 250
    assert created["priceInCents"] == 2250
    assert created["currency"] == "GBP"
    assert created["isActive"] is True
    assert {"id", "createdAt", "updatedAt"} <= created.keys()

    one = client.get(f"/api/credit-packages/{created['id']}")
    assert one.status_code == 200
    assert one.json() == created
    listed = client.get("/api/credit-packages").json()
    assert created in listed


def test_list_is_cheapest_first_and_hides_inactive(client: httpx.Client, admin: Account) -> None:
    prices = [7000, 300, 5000]
    ids = [create(client, admin, priceInCents=p).json()["id"] for p in prices]
    hidden = create(client, admin, priceInCents=30, isActive=False).json()["id"]
    listed = client.get("/api/credit-packages").json()
    listed_prices = [p["priceInCents"] for p in listed]
    assert listed_prices == sorted(listed_prices)
    assert all(p["isActive"] for p in listed)
    listed_ids = [p["id"] for p in listed]
    assert set(ids) <= set(listed_ids)
    assert hidden not in listed_ids

    everything = client.get(
        "/api/credit-packages", params={"includeInactive": "true"}, headers=admin.headers
    ).json()
    assert hidden in [p["id"] for p in everything]
    assert [p["priceInCents"] for p in everything] == sorted(p["priceInCents"] for p in everything)


def test_include_inactive_ignored_for_non_admins(
    client: httpx.Client, admin: Account, student: Account
) -> None:
    hidden = create(client, admin, isActive=False).json()["id"]
    for headers in ({}, student.headers, {"Authorization": "Bearer not-a-token"}):
        listed = client.get(
            "/api/credit-packages", params={"includeInactive": "true"}, headers=headers
        )
        assert listed.status_code == 200
        assert hidden not in [p["id"] for p in listed.json()]
        one = client.get(f"/api/credit-packages/{hidden}", headers=headers)
        assert one.status_code == 404
        assert one.json()["code"] == "package_not_found"
    assert client.get(f"/api/credit-packages/{hidden}", headers=admin.headers).status_code == 200


def test_patch_is_partial(client: httpx.Client, admin: Account) -> None:
    created = create(client, admin, description="before").json()
    response = client.patch(
        f"/api/credit-packages/{created['id']}", json={"priceInCents": 1234}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["priceInCents"] == 1234
    for field in ("name", "description", "credits", "isActive", "createdAt"):
        assert updated[field] == created[field]
    assert updated["updatedAt"] >= created["updatedAt"]

    cleared = client.patch(
        f"/api/credit-packages/{created['id']}", json={"description": None}, headers=admin.headers
    ).json()
    assert cleared["description"] is None
    assert cleared["priceInCents"] == 1234

    nothing = client.patch(f"/api/credit-packages/{created['id']}", json={}, headers=admin.headers)
    assert nothing.status_code == 200
    assert nothing.json()["priceInCents"] == 1234


def test_delete_is_soft(client: httpx.Client, admin: Account, db: psycopg.Connection) -> None:
    created = create(client, admin).json()
    response = client.delete(f"/api/credit-packages/{created['id']}", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["isActive"] is False
    row = db.execute(
        "SELECT is_active FROM credit_packages WHERE id = %s", (created["id"],)
    ).fetchone()
    assert row == (False,)
    assert created["id"] not in [p["id"] for p in client.get("/api/credit-packages").json()]
    # Deleting again is harmless; reactivating is a PATCH.
    assert (
        client.delete(f"/api/credit-packages/{created['id']}", headers=admin.headers).status_code
        == 200
    )
    again = client.patch(
        f"/api/credit-packages/{created['id']}", json={"isActive": True}, headers=admin.headers
    )
    assert again.json()["isActive"] is True


def test_name_unique_case_insensitively(
    client: httpx.Client, admin: Account, db: psycopg.Connection
) -> None:
    name = unique_name("Unique")
    assert create(client, admin, name=name).status_code == 201
    before = package_count(db)
    clash = create(client, admin, name=name.upper())
    assert clash.status_code == 409
    assert clash.json() == {
        "error": "A credit package with this name already exists.",
        "code": "package_name_taken",
    }
    assert package_count(db) == before

    other = create(client, admin).json()
    renamed = client.patch(
        f"/api/credit-packages/{other['id']}", json={"name": f"  {name.lower()} "},
        headers=admin.headers,
    )  # fmt: skip
    assert renamed.status_code == 409
    assert renamed.json()["code"] == "package_name_taken"
    assert client.get(f"/api/credit-packages/{other['id']}").json()["name"] == other["name"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"description": "d" * 501}, "description"),
        ({"credits": 0}, "credits"),
        ({"credits": 100_001}, "credits"),
        ({"credits": "100"}, "credits"),
        ({"credits": 10.5}, "credits"),
        ({"priceInCents": 0}, "priceInCents"),
        ({"priceInCents": 29}, "priceInCents"),  # below Stripe's smallest GBP charge
        ({"priceInCents": 10_000_001}, "priceInCents"),
        ({"priceInCents": "1000"}, "priceInCents"),
        ({"priceInCents": True}, "priceInCents"),
        ({"isActive": "yes"}, "isActive"),
    ],
)
def test_create_validation_names_the_field(
    client: httpx.Client, admin: Account, db: psycopg.Connection, body: dict, field: str
) -> None:
    before = package_count(db)
    response = create(client, admin, **body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["code"] == "validation_error"
    assert field in payload["error"]
    assert package_count(db) == before


def test_missing_fields_are_named(client: httpx.Client, admin: Account) -> None:
    response = client.post(
        "/api/credit-packages", json={"name": unique_name()}, headers=admin.headers
    )
    assert response.status_code == 422
    assert "credits" in response.json()["error"]
    assert "priceInCents" in response.json()["error"]


def test_patch_validation(client: httpx.Client, admin: Account) -> None:
    created = create(client, admin).json()
    for body, field in (({"name": None}, "name"), ({"credits": -1}, "credits"),
                        ({"priceInCents": None}, "priceInCents")):  # fmt: skip
        response = client.patch(
            f"/api/credit-packages/{created['id']}", json=body, headers=admin.headers
        )
        assert response.status_code == 422, response.text
        assert field in response.json()["error"]
    assert client.get(f"/api/credit-packages/{created['id']}").json() == created


def test_malformed_and_unknown_ids(client: httpx.Client, admin: Account) -> None:
    unknown = str(uuid.uuid4())
    assert client.get(f"/api/credit-packages/{unknown}").status_code == 404
    assert client.patch(f"/api/credit-packages/{unknown}", json={"credits": 5},
                        headers=admin.headers).status_code == 404  # fmt: skip
    assert (
        client.delete(f"/api/credit-packages/{unknown}", headers=admin.headers).status_code == 404
    )
    for path in ("/api/credit-packages/not-a-uuid", "/api/credit-packages/123"):
        for response in (
            client.get(path),
            client.patch(path, json={"credits": 5}, headers=admin.headers),
            client.delete(path, headers=admin.headers),
        ):
            assert response.status_code in (404, 422), response.text
            assert set(response.json()) == {"error", "code"}


def test_admin_routes_need_an_admin(
    client: httpx.Client, admin: Account, student: Account, instructor: Account,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    created = create(client, admin).json()
    path = f"/api/credit-packages/{created['id']}"
    before = package_count(db)
    body = {"name": unique_name(), "credits": 1, "priceInCents": 100}
    for headers, status, code in (
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer nope"}, 401, "invalid_token"),
        (student.headers, 403, "admin_only"),
        (instructor.headers, 403, "admin_only"),
    ):
        for response in (
            client.post("/api/credit-packages", json=body, headers=headers),
            client.patch(path, json={"credits": 7}, headers=headers),
            client.delete(path, headers=headers),
        ):
            assert response.status_code == status, response.text
            assert response.json()["code"] == code
    assert package_count(db) == before
    assert client.get(path).json() == created


def test_an_integral_json_number_is_an_integer(client: httpx.Client, admin: Account) -> None:
    """JSON Schema's "integer" includes 100.0, and the OpenAPI document says integer: the
    request is valid, so it is accepted as 100 (schemathesis found the refusal)."""
    response = create(client, admin, credits=100.0, priceInCents=1000.0)
    assert response.status_code == 201, response.text
    assert (response.json()["credits"], response.json()["priceInCents"]) == (100, 1000)
