"""``catalog pipeline run``: one clear line and its exit code on each failure, JSON summary,
progress with the number of steps."""

from __future__ import annotations

import json
import shutil

from catalog.cli_contract import ExitCode
from pipelines.steps import STEPS_DIR, load_steps
from recocatalog.cli import main
from tests.live_server import free_port, live_server


def _run(runner, *args):
    return runner.invoke(main, ["pipeline", "run", *args], catch_exceptions=False)


def test_missing_input_file_is_one_line(runner, tmp_path):
    r = _run(runner, "--source", "taobao", "--input", str(tmp_path / "nope.csv"),
             "--workdir", str(tmp_path))
    assert r.exit_code == ExitCode.BAD_INPUT
    assert r.output.strip() == f"error: no such file: {tmp_path / 'nope.csv'}"


def test_input_required_for_real_sources_is_a_usage_error(runner, tmp_path):
    r = _run(runner, "--source", "amazon", "--workdir", str(tmp_path))
    assert r.exit_code == ExitCode.USAGE
    assert r.output.strip().endswith("Error: --input is required for --source amazon")


def test_unknown_source_is_refused_by_click(runner, tmp_path):
    r = runner.invoke(main, ["pipeline", "run", "--source", "csv"])
    assert r.exit_code == 2 and "Invalid value for '--source'" in r.output


def test_spark_master_needs_the_spark_engine(runner, tmp_path):
    r = _run(runner, "--spark-master", "local[2]", "--workdir", str(tmp_path))
    assert r.exit_code == ExitCode.USAGE
    assert r.output.strip().endswith("Error: --spark-master applies to --engine spark only")


def test_a_malformed_spark_master_is_a_usage_error(runner, tmp_path):
    for master in ("yarn", "local[0]", "spark://host", "local[2]; rm -rf /"):
        r = _run(runner, "--engine", "spark", "--spark-master", master, "--workdir",
                 str(tmp_path))
        assert r.exit_code == ExitCode.USAGE, master
        assert "expected local[N] or spark://HOST:PORT" in r.output
    assert not any(tmp_path.iterdir())


def test_unknown_engine_is_refused_by_click(runner, tmp_path):
    r = _run(runner, "--engine", "polars", "--workdir", str(tmp_path))
    assert r.exit_code == 2 and "Invalid value for '--engine'" in r.output


def test_catalog_down_is_one_line_and_writes_nothing(runner, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    r = _run(runner, "--catalog-url", url, "--workdir", str(tmp_path / "w"), "--events", "500",
             "--json")
    assert r.exit_code == ExitCode.UNAVAILABLE and r.stdout == ""
    assert r.stderr.startswith(f"error: catalog at {url} is unreachable")
    assert r.stderr.count("\n") == 1
    assert not (tmp_path / "w").exists()


def test_malformed_source_fails_and_registers_nothing(runner, tmp_path, sqlite_url, catalog):
    bad = tmp_path / "Beauty_item2attributes.json"  # an attributes map where a CSV belongs
    bad.write_text('{"1": [3, 4], "2": [5]}\n')
    with live_server(sqlite_url, tmp_path) as url:
        r = _run(runner, "--source", "taobao", "--input", str(bad), "--catalog-url", url,
                 "--workdir", str(tmp_path / "w"))
        assert r.exit_code == ExitCode.BAD_INPUT
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and "is not a 5-column Taobao UserBehavior CSV" in lines[0]
        _, http = catalog
        runs = http.get("/api/v1/namespaces/recsys-pipelines/jobs/land_taobao/runs").get_json()
        assert [x["state"] for x in runs["runs"]] == ["FAILED"]
        assert runs["runs"][0]["outputDatasetVersions"] == []


def test_json_summary_is_all_of_stdout_and_progress_counts_the_steps(runner, tmp_path,
                                                                       sqlite_url, catalog):
    with live_server(sqlite_url, tmp_path) as url:
        r = _run(runner, "--events", "1000", "--catalog-url", url, "--workdir",
                 str(tmp_path / "w"), "--json", "--progress")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    steps = len(load_steps()) + 1  # and the landing
    assert r.stderr.splitlines()[0] == f"pipeline: 0/{steps} steps land_synthetic running"
    assert r.stderr.splitlines()[-1].startswith(f"pipeline: {steps}/{steps} steps ")
    assert summary["status"] == "COMPLETE"
    assert set(summary["outputs"]) >= {"events_clean", "user_features", "item_features"}
    assert summary["outputs"]["events_clean"]["checks"]["success"] is True
    assert summary["outputs"]["events_clean"]["rows"] > 900


def test_failed_critical_expectation_exits_6_after_the_summary(runner, tmp_path, sqlite_url,
                                                               catalog, monkeypatch):
    from pipelines import runner as pipeline_runner

    steps_dir = tmp_path / "steps"  # events_integrated's suite now wants at most 10 rows
    shutil.copytree(STEPS_DIR, steps_dir)
    suite = json.loads((steps_dir / "events_integrated.suite.json").read_text())
    suite["expectations"].append({"type": "expect_table_row_count_to_be_between",
                                  "kwargs": {"max_value": 10}, "meta": {"severity": "critical"}})
    (steps_dir / "events_integrated.suite.json").write_text(json.dumps(suite))
    monkeypatch.setattr(pipeline_runner, "load_steps", lambda: load_steps(steps_dir))
    with live_server(sqlite_url, tmp_path) as url:
        r = _run(runner, "--events", "1000", "--catalog-url", url, "--workdir",
                 str(tmp_path / "w"), "--json", "--no-progress")
    assert r.exit_code == ExitCode.CHECKS_FAILED, r.output
    summary = json.loads(r.stdout)
    assert summary["status"] == "FAIL" and "user_features" in summary["skipped"]
    assert summary["outputs"]["events_integrated"]["checks"]["success"] is False
    assert r.stderr == ("error: events_integrated: critical expectations failed: "
                        "expect_table_row_count_to_be_between\n")
