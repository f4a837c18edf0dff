"""Order handling: validate an order, reserve its stock, gift wrap it, tell the customer."""

from __future__ import annotations

import hashlib
from typing import Any

from ._files import append_line

#: The shop's catalogue: SKU -> (unit price, units in stock).
CATALOGUE: dict[str, tuple[float, int]] = {
    "BOOK-42": (12.50, 40),
    "MUG-7": (8.00, 12),
    "TEA-3": (4.25, 100),
    "LAMP-1": (39.90, 3),
}

GIFT_WRAP_FEE = 2.50


class OrderInvalid(ValueError):
    """The order cannot be accepted as it stands."""


class OutOfStock(Exception):
    """Not enough units of an item are in stock."""


def validate_order(order_id: str, items: list[dict[str, Any]], gift_wrap: bool) -> dict[str, Any]:
    """Check every line of the order against the catalogue and price it."""
    if not items:
        raise OrderInvalid(f"order {order_id} has no items")
    lines = []
    for item in items:
        sku = item.get("sku")
        qty = item.get("qty", 1)
        if sku not in CATALOGUE:
            raise OrderInvalid(f"order {order_id}: unknown SKU {sku!r}")
        if not isinstance(qty, int) or qty <= 0:
            raise OrderInvalid(f"order {order_id}: quantity of {sku} must be a positive integer")
        price, _ = CATALOGUE[sku]
        lines.append({"sku": sku, "qty": qty, "amount": round(price * qty, 2)})
    subtotal = round(sum(line["amount"] for line in lines), 2)
    total = round(subtotal + (GIFT_WRAP_FEE if gift_wrap else 0.0), 2)
    return {"order_id": order_id, "lines": lines, "subtotal": subtotal, "total": total}


def reserve_stock(order_id: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Reserve the units of every line; fail when one is short."""
    for line in lines:
        _, in_stock = CATALOGUE[line["sku"]]
        if line["qty"] > in_stock:
            raise OutOfStock(
                f"only {in_stock} x {line['sku']} in stock, order {order_id} wants {line['qty']}"
            )
    digest = hashlib.sha256(order_id.encode()).hexdigest()[:8].upper()
    return {"reservation_id": f"RES-{digest}", "units": sum(line["qty"] for line in lines)}


def gift_wrap(order_id: str, message: str) -> dict[str, Any]:
    """Ask the packing bench to wrap the parcel with a card."""
    return {"order_id": order_id, "wrapped": True, "card": message or "With love"}


def notify_customer(
    customer: str, order_id: str, tracking_number: str, total: float, outbox: str
) -> dict[str, Any]:
    """Send the 'your order is on its way' email (written to the outbox)."""
    body = f"Order {order_id} ({total:.2f} EUR) is on its way: tracking {tracking_number}."
    append_line(outbox, "emails.jsonl", {"to": customer, "subject": "Your order", "body": body})
    return {"sent_to": customer}
