"""The bundled example workflows, run through the Python API on both kinds of store."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowscope.engine.journal import Journal
from flowscope.engine.runner import Engine
from flowscope.engine.status import RunStatus, StepStatus
from flowscope.model import load_workflow
from flowscope.store import open_store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    url = "memory" if request.param == "memory" else str(tmp_path / "flowscope.db")
    journal = open_store(url)
    yield journal
    journal.close()


@pytest.fixture
def engine(store: Journal) -> Iterator[Engine]:
    eng = Engine(store)
    yield eng
    eng.close()


def _by_step(store: Journal, run_id: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for rec in store.get_steps(run_id):
        out.setdefault(rec.step_id, []).append(rec)
    return out


def _pipeline_module() -> Any:
    # The examples' actions are a package beside the workflows; import it the way the
    # engine does, to compute expected values independently of the run.
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    import actions.pipeline

    return actions.pipeline


def test_every_example_file_is_a_valid_workflow() -> None:
    names = {load_workflow(p).name for p in EXAMPLES.glob("*.yaml") if p.name != "demo.yaml"}
    assert names == {"order_fulfilment", "payment", "data_pipeline", "flaky_service"}


def test_order_fulfilment_runs_payment_as_a_linked_child_and_skips_gift_wrap(
    engine: Engine, store: Journal, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    result = engine.run(EXAMPLES / "order_fulfilment.yaml", {"outbox": str(outbox)})

    assert result.status is RunStatus.COMPLETED, result.error
    assert result.outputs is not None
    assert result.outputs["order_id"] == "ORD-1001"
    assert result.outputs["total"] == 33.0  # 2 x 12.50 + 1 x 8.00
    assert result.outputs["payment_id"].startswith("PAY-")
    assert result.outputs["tracking_number"].startswith("TRK")
    assert result.outputs["gift_wrapped"] is False

    steps = _by_step(store, result.id)
    (wrap,) = steps["gift_wrap"]
    assert wrap.status is StepStatus.SKIPPED
    assert wrap.skip_reason == "condition"
    assert all(recs[-1].status is StepStatus.COMPLETED
               for sid, recs in steps.items() if sid != "gift_wrap")

    (child,) = store.list_runs(parent_run_id=result.id)
    assert child.workflow == "payment"
    assert child.parent_step_id == "payment"
    assert child.status is RunStatus.COMPLETED
    assert steps["payment"][-1].child_run_id == child.id
    assert child.outputs is not None
    assert child.outputs["payment_id"] == result.outputs["payment_id"]
    assert [r.step_id for r in store.get_steps(child.id)] == ["authorise", "capture"]

    shipments = (outbox / "shipments.jsonl").read_text().splitlines()
    assert [json.loads(line)["order_id"] for line in shipments] == ["ORD-1001"]
    emails = [json.loads(line) for line in (outbox / "emails.jsonl").read_text().splitlines()]
    assert emails[0]["to"] == "ada@example.com"
    assert result.outputs["tracking_number"] in emails[0]["body"]


def test_order_fulfilment_wraps_the_gift_when_asked(engine: Engine, store: Journal,
                                                     tmp_path: Path) -> None:
    result = engine.run(EXAMPLES / "order_fulfilment.yaml", {
        "outbox": str(tmp_path), "gift_wrap": True, "gift_message": "Happy birthday",
    })

    assert result.ok
    assert result.outputs is not None
    assert result.outputs["total"] == 35.5  # the wrapping fee is added
    (wrap,) = _by_step(store, result.id)["gift_wrap"]
    assert wrap.status is StepStatus.COMPLETED
    assert wrap.output == {"order_id": "ORD-1001", "wrapped": True, "card": "Happy birthday"}


def test_order_with_an_unknown_sku_fails_at_validation(engine: Engine, tmp_path: Path) -> None:
    result = engine.run(EXAMPLES / "order_fulfilment.yaml", {
        "outbox": str(tmp_path), "items": [{"sku": "NOPE-1", "qty": 1}],
    })

    assert result.status is RunStatus.FAILED
    assert result.failed_step == "validate_order"
    assert result.error is not None
    assert "unknown SKU 'NOPE-1'" in result.error.message
    assert not (tmp_path / "shipments.jsonl").exists()


def test_declined_card_fails_the_payment_without_retrying(engine: Engine, store: Journal,
                                                           tmp_path: Path) -> None:
    result = engine.run(EXAMPLES / "payment.yaml",
                        {"card": "4000000000000002", "outbox": str(tmp_path)})

    assert result.status is RunStatus.FAILED
    assert result.failed_step == "authorise"
    assert result.error is not None and result.error.type.endswith("PaymentDeclined")
    steps = _by_step(store, result.id)
    assert len(steps["authorise"]) == 1
    assert steps["capture"][0].status is StepStatus.SKIPPED


def test_data_pipeline_fans_out_six_partitions_and_loads_the_report(
    engine: Engine, store: Journal, tmp_path: Path
) -> None:
    result = engine.run(EXAMPLES / "data_pipeline.yaml",
                        {"outbox": str(tmp_path), "orders_per_region": 10})

    assert result.ok, result.error
    pipeline = _pipeline_module()
    extracted = pipeline.extract("2026-11-20", 10)
    expected = pipeline.aggregate(
        [pipeline.transform(region, rows) for region, rows in extracted["partitions"].items()]
    )
    assert result.outputs == {
        "rows_extracted": 60,
        "revenue": expected["revenue"],
        "best_region": expected["best_region"],
        "report_csv": str(tmp_path / "sales_2026-11-20.csv"),
    }
    steps = _by_step(store, result.id)
    transforms = [sid for sid in steps if sid.startswith("transform_")]
    assert len(transforms) == 6
    for sid in transforms:
        (rec,) = steps[sid]
        assert rec.status is StepStatus.COMPLETED
        assert rec.output["orders"] == 10
    with (tmp_path / "sales_2026-11-20.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["region"] for r in rows) == sorted(pipeline.REGIONS)
    totals = json.loads((tmp_path / "sales_2026-11-20.json").read_text())
    assert totals["orders"] == 60


def test_flaky_service_succeeds_through_retries_and_a_timeout(
    engine: Engine, store: Journal, tmp_path: Path
) -> None:
    result = engine.run(EXAMPLES / "flaky_service.yaml", {"state_dir": str(tmp_path)})

    assert result.ok, result.error
    steps = _by_step(store, result.id)
    inventory = steps["check_inventory"]
    assert [r.status for r in inventory] == [StepStatus.FAILED, StepStatus.FAILED,
                                            StepStatus.COMPLETED]
    assert all(r.error is not None and r.error.category == "external_service"
               for r in inventory[:2])
    quote = steps["fetch_quote"]
    assert [r.status for r in quote] == [StepStatus.FAILED, StepStatus.COMPLETED]
    assert quote[0].error is not None and quote[0].error.category == "timeout"
    assert result.outputs == {"skus_available": 3, "shipping_price": 6.9, "service_calls": 5}


def test_flaky_service_with_fail_hard_fails_on_purpose_and_skips_the_report(
    engine: Engine, store: Journal, tmp_path: Path
) -> None:
    result = engine.run(EXAMPLES / "flaky_service.yaml",
                        {"state_dir": str(tmp_path), "fail_hard": True})

    assert result.status is RunStatus.FAILED
    assert result.failed_step == "check_inventory"
    assert result.error is not None
    assert result.error.type.endswith("ServiceUnavailable")
    assert result.error.category == "external_service"
    steps = _by_step(store, result.id)
    assert len(steps["check_inventory"]) == 4  # every attempt the retry policy allows
    (report,) = steps["publish_report"]
    assert report.status is StepStatus.SKIPPED
    assert report.skip_reason == "upstream"


def test_two_flaky_runs_count_their_attempts_separately(engine: Engine, store: Journal,
                                                        tmp_path: Path) -> None:
    first = engine.run(EXAMPLES / "flaky_service.yaml", {"state_dir": str(tmp_path)})
    second = engine.run(EXAMPLES / "flaky_service.yaml", {"state_dir": str(tmp_path)})

    assert first.ok and second.ok
    assert len(_by_step(store, second.id)["check_inventory"]) == 3
