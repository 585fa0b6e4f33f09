"""Landing files appear whole or not at all: a landing that dies half-way keeps the old file."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.sources import landing
from pipelines.sources.synthetic import SyntheticConfig, generate


def test_failed_landing_keeps_the_previous_file(tmp_path):
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), path)
    with pytest.raises(RuntimeError), landing(path) as tmp:
        with pq.ParquetWriter(tmp, pa.schema([("x", pa.int64())])) as writer:
            writer.write_table(pa.table({"x": [3]}))
        raise RuntimeError("killed mid-landing")
    assert pq.read_table(path).column("x").to_pylist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["events.parquet"]  # no temp file left


def test_successful_landing_replaces_the_file(tmp_path):
    path = tmp_path / "events.parquet"
    with landing(path) as tmp:
        assert tmp.parent == tmp_path and tmp != path and not path.exists()
        pq.write_table(pa.table({"x": [7]}), tmp)
    assert pq.read_table(path).column("x").to_pylist() == [7]
    assert [p.name for p in tmp_path.iterdir()] == ["events.parquet"]


def test_synthetic_generator_lands_through_temp_files(tmp_path, monkeypatch):
    seen = []
    real = pq.ParquetWriter.__init__

    def spy(self, where, *args, **kwargs):
        seen.append(str(where))
        real(self, where, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "__init__", spy)
    counts = generate(tmp_path, SyntheticConfig(events=1_000, seed=1))
    assert counts["events"] > 0 and (tmp_path / "raw" / "events.parquet").is_file()
    assert all(p.endswith(".tmp") for p in seen) and seen
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["events.parquet",
                                                                     "items.parquet"]
