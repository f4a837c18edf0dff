"""Payment: authorise an amount on a card, then capture it."""

from __future__ import annotations

import hashlib
from typing import Any

from ._files import append_line


class PaymentDeclined(Exception):
    """The card issuer refused the payment."""


def authorise(order_id: str, amount: float, card: str) -> dict[str, Any]:
    """Place a hold of ``amount`` on the card (cards ending in 0002 are declined)."""
    if amount <= 0:
        raise ValueError(f"cannot authorise a non-positive amount ({amount}) for {order_id}")
    if card.endswith("0002"):
        raise PaymentDeclined(f"card ending {card[-4:]} declined for order {order_id}")
    digest = hashlib.sha256(f"{order_id}:{amount}".encode()).hexdigest()[:10].upper()
    return {"authorisation_id": f"AUTH-{digest}", "amount": amount, "card_last4": card[-4:]}


def capture(authorisation_id: str, amount: float, outbox: str) -> dict[str, Any]:
    """Take the money held by an authorisation (recorded in the outbox's ledger)."""
    payment_id = "PAY-" + authorisation_id.removeprefix("AUTH-")
    append_line(outbox, "ledger.jsonl", {"payment_id": payment_id, "amount": amount})
    return {"payment_id": payment_id, "captured": amount}
