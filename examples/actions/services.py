"""Simulated unreliable services, deterministic per run.

Each service counts its attempts in a file keyed by the run id, so that a run fails the
same way every time it runs, and its retries (not luck) make it succeed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._files import bump_counter


class ServiceUnavailable(ConnectionError):
    """The remote service refused the connection."""


def check_inventory(run_id: str, failures: int, fail_hard: bool, state_dir: str) -> dict[str, Any]:
    """Ask the warehouse service for stock levels; it is down for the first ``failures`` calls.

    With ``fail_hard`` the service never comes back, so the step fails once its retries
    are used up.
    """
    attempt = bump_counter(state_dir, f"{run_id}-inventory")
    if fail_hard or attempt <= failures:
        raise ServiceUnavailable(
            f"inventory service at warehouse-7:8443 refused the connection (call {attempt})"
        )
    return {"available": {"BOOK-42": 40, "MUG-7": 12, "TEA-3": 100}, "calls": attempt}


async def fetch_quote(run_id: str, carrier: str, state_dir: str) -> dict[str, Any]:
    """Ask a carrier for a shipping quote; the first call hangs for half a second."""
    attempt = bump_counter(state_dir, f"{run_id}-quote")
    if attempt == 1:
        await asyncio.sleep(0.5)  # longer than the step's timeout: the engine cuts it off
    return {"carrier": carrier, "price": 6.9, "currency": "EUR", "calls": attempt}


def publish_report(inventory: dict[str, Any], quote: dict[str, Any]) -> dict[str, Any]:
    """Combine the answers into the morning availability report."""
    return {
        "skus_available": len(inventory["available"]),
        "shipping_price": quote["price"],
        "carrier": quote["carrier"],
        "service_calls": inventory["calls"] + quote["calls"],
    }
