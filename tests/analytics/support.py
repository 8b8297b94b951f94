"""Reading today's analytics figures the way the back office does."""

from __future__ import annotations

from typing import Any

import httpx

from medgrader.analytics.service import today_in_london


def todays_figures(client: httpx.Client, admin: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the summary, the daily row) for today (London)."""
    today = today_in_london().isoformat()
    params = {"from": today, "to": today}
    summary = client.get("/api/admin/analytics/summary", params=params, headers=admin.headers)
    daily = client.get("/api/admin/analytics/daily", params=params, headers=admin.headers)
    assert summary.status_code == 200, summary.text
    assert daily.status_code == 200, daily.text
    return summary.json(), daily.json()["days"][0]
