"""``catalog pipeline run``: one clear line and a non-zero exit on bad input, JSON summary."""

from __future__ import annotations

import json

from recocatalog.cli import main
from tests.live_server import free_port, live_server


def _run(runner, *args):
    return runner.invoke(main, ["pipeline", "run", *args], catch_exceptions=False)


def test_missing_input_file_is_one_line(runner, tmp_path):
    r = _run(runner, "--source", "taobao", "--input", str(tmp_path / "nope.csv"),
             "--workdir", str(tmp_path))
    assert r.exit_code == 1
    assert r.output.strip() == f"error: no such file: {tmp_path / 'nope.csv'}"


def test_input_required_for_real_sources(runner, tmp_path):
    r = _run(runner, "--source", "amazon", "--workdir", str(tmp_path))
    assert r.exit_code == 1
    assert r.output.strip() == "error: --input is required for --source amazon"


def test_unknown_source_is_refused_by_click(runner, tmp_path):
    r = runner.invoke(main, ["pipeline", "run", "--source", "csv"])
    assert r.exit_code == 2 and "Invalid value for '--source'" in r.output


def test_catalog_down_is_one_line_and_writes_nothing(runner, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    r = _run(runner, "--catalog-url", url, "--workdir", str(tmp_path / "w"), "--events", "500")
    assert r.exit_code == 1
    assert r.output.strip().startswith(f"error: catalog at {url} is unreachable")
    assert not (tmp_path / "w").exists()


def test_malformed_source_fails_and_registers_nothing(runner, tmp_path, sqlite_url, catalog):
    bad = tmp_path / "Beauty_item2attributes.json"  # an attributes map where a CSV belongs
    bad.write_text('{"1": [3, 4], "2": [5]}\n')
    with live_server(sqlite_url, tmp_path) as url:
        r = _run(runner, "--source", "taobao", "--input", str(bad), "--catalog-url", url,
                 "--workdir", str(tmp_path / "w"))
        assert r.exit_code == 1
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and "is not a 5-column Taobao UserBehavior CSV" in lines[0]
        _, http = catalog
        runs = http.get("/api/v1/namespaces/recsys-pipelines/jobs/land_taobao/runs").get_json()
        assert [x["state"] for x in runs["runs"]] == ["FAILED"]
        assert runs["runs"][0]["outputDatasetVersions"] == []


def test_json_summary_is_the_last_line(runner, tmp_path, sqlite_url, catalog):
    with live_server(sqlite_url, tmp_path) as url:
        r = _run(runner, "--events", "1000", "--catalog-url", url, "--workdir",
                 str(tmp_path / "w"), "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["status"] == "COMPLETE"
    assert set(summary["outputs"]) >= {"events_clean", "user_features", "item_features"}
    assert summary["outputs"]["events_clean"]["checks"]["success"] is True
    assert summary["outputs"]["events_clean"]["rows"] > 900
