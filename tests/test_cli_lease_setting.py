"""``leases: {ttl: ...}`` in flowscope.yaml sets how long a run's lease lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowscope.cli.store import lease_ttl
from flowscope.engine.leases import DEFAULT_TTL
from flowscope.errors import StoreError


@pytest.mark.parametrize(("text", "seconds"), [
    ("leases: {ttl: 30s}\n", 30.0), ("leases: {ttl: 2m}\n", 120.0),
    ("leases: {ttl: 1.5}\n", 1.5), ("leases: {ttl: 500ms}\n", 0.5),
    ("classification: {rules: []}\n", DEFAULT_TTL), ("", DEFAULT_TTL),
])
def test_the_setting_is_read(tmp_path: Path, text: str, seconds: float) -> None:
    path = tmp_path / "flowscope.yaml"
    path.write_text(text)
    assert lease_ttl(str(path)) == seconds


def test_no_file_means_the_default(tmp_path: Path) -> None:
    assert lease_ttl(str(tmp_path / "missing.yaml")) == DEFAULT_TTL


@pytest.mark.parametrize("value", ["0s", "-3", "soon", "true", "[1]"])
def test_a_bad_setting_names_it_and_the_fix(tmp_path: Path, value: str) -> None:
    path = tmp_path / "flowscope.yaml"
    path.write_text(f"leases: {{ttl: {value}}}\n")
    with pytest.raises(StoreError, match=r"leases\.ttl"):
        lease_ttl(str(path))
