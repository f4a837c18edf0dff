"""A small sales data pipeline: extract, transform partitions, aggregate, load."""

from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path
from typing import Any

REGIONS = ("north", "south", "east", "west", "central", "online")
PRODUCTS = ("BOOK-42", "MUG-7", "TEA-3", "LAMP-1")


def extract(day: str, orders_per_region: int) -> dict[str, Any]:
    """Generate the day's orders per region (seeded by the day, so always the same)."""
    rng = random.Random(f"sales:{day}")
    partitions: dict[str, list[dict[str, Any]]] = {}
    for region in REGIONS:
        rows = []
        for n in range(orders_per_region):
            rows.append({
                "order": f"{region[:2].upper()}-{n:04d}",
                "product": rng.choice(PRODUCTS),
                "qty": rng.randint(1, 4),
                "unit_price": rng.choice((4.25, 8.0, 12.5, 39.9)),
            })
        partitions[region] = rows
    return {"day": day, "partitions": partitions,
            "rows": sum(len(r) for r in partitions.values())}


def transform(region: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Summarise one region's orders: revenue, units, average basket, best seller."""
    time.sleep(0.02)  # stands for real work, so the partitions visibly overlap
    revenue = round(sum(r["qty"] * r["unit_price"] for r in rows), 2)
    units = sum(r["qty"] for r in rows)
    by_product: dict[str, int] = {}
    for r in rows:
        by_product[r["product"]] = by_product.get(r["product"], 0) + r["qty"]
    top = max(sorted(by_product), key=lambda p: by_product[p]) if by_product else None
    return {
        "region": region,
        "orders": len(rows),
        "units": units,
        "revenue": revenue,
        "avg_basket": round(revenue / len(rows), 2) if rows else 0.0,
        "top_product": top,
    }


def aggregate(partials: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine the regional summaries into the day's totals."""
    regions = sorted(partials, key=lambda p: -p["revenue"])
    revenue = round(sum(p["revenue"] for p in partials), 2)
    orders = sum(p["orders"] for p in partials)
    return {
        "regions": regions,
        "revenue": revenue,
        "orders": orders,
        "units": sum(p["units"] for p in partials),
        "best_region": regions[0]["region"] if regions else None,
    }


def load(day: str, summary: dict[str, Any], outbox: str) -> dict[str, Any]:
    """Write the report as CSV (one row per region) and JSON (the totals)."""
    folder = Path(outbox)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / f"sales_{day}.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["region", "orders", "units", "revenue", "avg_basket", "top_product"]
        )
        writer.writeheader()
        writer.writerows(summary["regions"])
    json_path = folder / f"sales_{day}.json"
    totals = {k: v for k, v in summary.items() if k != "regions"}
    json_path.write_text(json.dumps({"day": day, **totals}, indent=2), encoding="utf-8")
    return {"csv": str(csv_path), "json": str(json_path), "rows": len(summary["regions"])}
