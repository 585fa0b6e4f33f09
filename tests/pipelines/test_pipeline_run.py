"""End-to-end pipeline runs reporting to an in-process catalog."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from pipelines import report, runner
from pipelines.report import Reporter
from pipelines.runner import PipelineFailed, run_pipeline
from pipelines.service import land_and_run, land_source
from pipelines.steps import STEPS_DIR, load_steps

STEP_NAMES = [s.name for s in load_steps()]


def _get(http, path):
    r = http.get(path)
    assert r.status_code == 200, (path, r.get_json())
    return r.get_json()


def test_synthetic_run_reports_every_step(tmp_path, catalog):
    client, http = catalog
    result = land_and_run(tmp_path, "synthetic", reporter=Reporter(client), events=5_000)
    assert result.failed is None and not result.skipped
    assert [s.output for s in result.steps] == STEP_NAMES
    con = duckdb.connect(str(result.database), read_only=True)
    landed = con.execute("select count(*) from read_parquet(?)",
                         [str(tmp_path / "raw" / "events.parquet")]).fetchone()[0]
    kept = con.execute("select count(*) from events_clean").fetchone()[0]
    reasons = dict(con.execute("select reason, count(*) from quarantine where entity = 'event' "
                               "group by 1").fetchall())
    con.close()
    # Nothing is dropped silently: every landed event is clean or quarantined with a reason.
    assert kept + sum(reasons.values()) == landed
    assert {"duplicate", "near_duplicate", "missing_id", "unknown_item"} <= set(reasons)

    # The catalog holds each output as a versioned dataset written by its step's run.
    ds = _get(http, "/api/v1/namespaces/recsys/datasets/user_features")
    assert ds["kind"] == "feature_table" and ds["currentVersionNumber"] == 1
    step_out = {s.output: s for s in result.steps}
    v = _get(http, "/api/v1/namespaces/recsys/datasets/user_features/versions/1")
    assert v["fingerprint"] == step_out["user_features"].fingerprint
    assert v["rowCount"] == step_out["user_features"].rows
    run = _get(http, f"/api/v1/jobs/runs/{v['createdByRun']['id']}")
    assert run["state"] == "COMPLETED" and run["parentRunId"] == result.run_id
    assert {i["datasetVersionId"]["name"] for i in run["inputDatasetVersions"]} == {
        "events_integrated", "interactions_split"}
    job = _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/feature_pipeline.user_features")
    assert "group by user_id" in job["facets"]["sql"]["query"]
    parent = _get(http, f"/api/v1/jobs/runs/{result.run_id}")
    assert parent["state"] == "COMPLETED"

    # Column lineage derived from the SQL reaches back to the raw events.
    cl = _get(http, "/api/v1/column-lineage?nodeId=datasetField:recsys:user_features:n_buy"
                    "&depth=10&withDownstream=false")
    ids = {n["id"] for n in cl["graph"]}
    assert "datasetField:recsys:events_integrated:behavior" in ids
    assert "datasetField:recsys:raw_events:behavior" in ids

    # Quality checks are attached to the version they checked.
    vals = _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/"
                      "feature_pipeline.events_clean.validate/runs")
    assert vals["runs"][0]["state"] == "COMPLETED"
    checked = vals["runs"][0]["inputDatasetVersions"][0]
    assert checked["datasetVersionId"]["name"] == "events_clean"
    assertions = checked["facets"]["dataQualityAssertions"]["assertions"]
    assert len(assertions) == 9 and all(a["success"] for a in assertions)


def test_unchanged_rerun_is_a_recorded_noop(tmp_path, catalog):
    client, http = catalog
    first = land_and_run(tmp_path, "synthetic", reporter=Reporter(client), events=2_000)
    second = land_and_run(tmp_path, "synthetic", reporter=Reporter(client), events=2_000)
    assert all(s.noop for s in second.steps)
    assert [s.fingerprint for s in second.steps] == [s.fingerprint for s in first.steps]
    runs = _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/feature_pipeline.events_clean"
                      "/runs")
    assert runs["totalCount"] == 2
    outs = [r["outputDatasetVersions"][0]["datasetVersionId"]["version"] for r in runs["runs"]]
    assert outs[0] == outs[1]  # both runs point at the one version
    assert runs["runs"][0]["facets"]["pipelineStep"]["noop"] is True
    assert _get(http, "/api/v1/namespaces/recsys/datasets/events_clean")[
        "currentVersionNumber"] == 1
    # A new seed changes the raw data: everything downstream rebuilds and is versioned again.
    third = land_and_run(tmp_path, "synthetic", reporter=Reporter(client), events=2_000, seed=8)
    assert not any(s.noop for s in third.steps)
    assert _get(http, "/api/v1/namespaces/recsys/datasets/events_clean")[
        "currentVersionNumber"] == 2


def _failing_integration(tmp_path: Path) -> Path:
    """A copy of the steps whose events_integrated suite fails a critical expectation."""
    steps_dir = tmp_path / "steps"
    shutil.copytree(STEPS_DIR, steps_dir)
    suite = json.loads((steps_dir / "events_integrated.suite.json").read_text())
    suite["expectations"].append({
        "type": "expect_table_row_count_to_be_between",
        "kwargs": {"max_value": 10}, "meta": {"severity": "critical"}})
    (steps_dir / "events_integrated.suite.json").write_text(json.dumps(suite))
    return steps_dir


def test_failed_critical_expectation_stops_downstream(tmp_path, catalog):
    client, http = catalog
    steps_dir = _failing_integration(tmp_path)
    work = tmp_path / "work"
    land_and_run(work, "synthetic", reporter=Reporter(client), events=2_000)
    with pytest.raises(PipelineFailed, match="events_integrated: critical expectations failed: "
                                             "expect_table_row_count_to_be_between"):
        run_pipeline(work, reporter=Reporter(client), steps=load_steps(steps_dir))
    parent = _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/feature_pipeline")["latestRun"]
    assert parent["state"] == "FAILED"
    assert "events_integrated" in parent["errorMessage"]
    validate = _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/"
                          "feature_pipeline.events_integrated.validate")["latestRun"]
    assert validate["state"] == "FAILED"
    # Downstream steps did not run a second time.
    runs = _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/feature_pipeline.user_features"
                      "/runs")
    assert runs["totalCount"] == 1
    # The failing assertion is recorded against the version it checked.
    version = _get(http, f"/api/v1/jobs/runs/{validate['id']}")["inputDatasetVersions"][0]
    failed = [a for a in version["facets"]["dataQualityAssertions"]["assertions"]
              if not a["success"]]
    assert [a["assertion"] for a in failed] == ["expect_table_row_count_to_be_between"]


def _taobao_csv(path: Path) -> dict[str, int]:
    """A UserBehavior CSV as Tianchi ships it (no header; user,item,category,behavior,ts), with
    the behaviour counts it holds."""
    behaviors = ["pv"] * 7 + ["cart", "fav", "buy"]
    counts: dict[str, int] = {}
    lines = []
    for user in range(1, 31):
        for k in range(10):
            b = behaviors[(user + k) % len(behaviors)]
            counts[b] = counts.get(b, 0) + 1
            item = 1000 + (user * 7 + k * 13) % 97
            lines.append(f"{user},{item},{item % 9 + 1},{b},{1511544070 + user * 600 + k * 37}")
    path.write_text("\n".join(lines) + "\n")
    return counts


def test_taobao_format(tmp_path, catalog):
    """The Taobao reader on a file the test makes in the real format (the default suite)."""
    client, http = catalog
    csv_path = tmp_path / "UserBehavior.csv"
    expected = _taobao_csv(csv_path)
    result = land_and_run(tmp_path / "w", "taobao", reporter=Reporter(client),
                          input_path=csv_path)
    rows = {s.output: s.rows for s in result.steps}
    assert rows["events_checked"] == 300
    con = duckdb.connect(str(result.database), read_only=True)
    behaviors = dict(con.execute("select behavior, count(*) from events_checked "
                                 "group by 1").fetchall())
    con.close()
    assert behaviors == expected
    assert rows["events_clean"] + rows["quarantine"] == 300
    assert _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/land_taobao")["latestRun"][
        "state"] == "COMPLETED"


def test_amazon_format_split_is_leave_one_out(tmp_path, catalog):
    """The Amazon reader on 5-core sequences the test makes in the S3-Rec format."""
    client, _ = catalog
    seqs = {u: [1 + (u * 3 + k * 5) % 40 for k in range(5 + u % 4)] for u in range(1, 41)}
    (tmp_path / "Toy.txt").write_text(
        "".join(f"{u} {' '.join(map(str, s))}\n" for u, s in seqs.items()))
    items = sorted({i for s in seqs.values() for i in s})
    (tmp_path / "Toy_item2attributes.json").write_text(
        json.dumps({str(i): [i % 7, 10 + i % 3] for i in items}))
    result = land_and_run(tmp_path / "w", "amazon", reporter=Reporter(client),
                          input_path=tmp_path / "Toy.txt",
                          attributes=tmp_path / "Toy_item2attributes.json")
    con = duckdb.connect(str(result.database), read_only=True)
    split = dict(con.execute("select split, count(*) from interactions_split "
                             "group by 1").fetchall())
    n_items = con.execute("select count(*) from item_features").fetchone()[0]
    con.close()
    total = sum(len(s) for s in seqs.values())
    assert split == {"test": 40, "valid": 40, "train": total - 80}
    assert n_items == len(items)


@pytest.mark.real_data
def test_taobao_sample(tmp_path, catalog, shared_data):
    client, http = catalog
    result = land_and_run(tmp_path, "taobao", reporter=Reporter(client),
                          input_path=shared_data / "taobao" / "UserBehavior_sample.csv")
    rows = {s.output: s.rows for s in result.steps}
    assert rows["events_checked"] == 4321
    con = duckdb.connect(str(result.database), read_only=True)
    behaviors = dict(con.execute("select behavior, count(*) from events_checked "
                                 "group by 1").fetchall())
    con.close()
    assert behaviors == {"pv": 3926, "cart": 190, "fav": 128, "buy": 77}
    assert rows["events_clean"] + rows["quarantine"] == 4321
    assert _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/land_taobao")["latestRun"][
        "state"] == "COMPLETED"


@pytest.mark.real_data
def test_amazon_beauty_split_is_leave_one_out(tmp_path, catalog, shared_data):
    client, _ = catalog
    a = shared_data / "amazon"
    result = land_and_run(tmp_path, "amazon", reporter=Reporter(client),
                          input_path=a / "Beauty.txt", attributes=a / "Beauty_item2attributes.json")
    con = duckdb.connect(str(result.database), read_only=True)
    split = dict(con.execute("select split, count(*) from interactions_split "
                             "group by 1").fetchall())
    items = con.execute("select count(*) from item_features").fetchone()[0]
    con.close()
    assert split == {"test": 22_363, "valid": 22_363, "train": 198_502 - 2 * 22_363}
    assert items == 12_101


def test_landing_fingerprints_each_source_once(tmp_path, monkeypatch):
    """Landing hashes the source files for their fingerprints; the steps reuse them."""
    from pipelines import runner, service, tables

    hashed: list[str] = []

    def counted(path):
        hashed.append(Path(path).name)
        return tables.file_fingerprint(path)

    monkeypatch.setattr(service, "file_fingerprint", counted)
    monkeypatch.setattr(runner, "file_fingerprint", counted)
    result = land_and_run(tmp_path, "synthetic", events=2_000)
    assert result.failed is None
    assert sorted(hashed) == ["events.parquet", "items.parquet"]
    # A run over landed files (no landing in the same call) hashes them itself, to the same value.
    hashed.clear()
    again = runner.run_pipeline(tmp_path)
    assert sorted(hashed) == ["events.parquet", "items.parquet"]
    assert all(s.noop for s in again.steps)


def test_step_built_ahead_of_a_failing_check_is_rolled_back(tmp_path, catalog, monkeypatch):
    """The next step builds while its input is still being checked; the check then fails."""
    client, http = catalog
    steps = load_steps(_failing_integration(tmp_path))
    work = tmp_path / "work"
    land_source(work, "synthetic", events=2_000)
    # Hold the check of events_integrated until interactions_split (built on it) is built, so
    # the build is certain to be ahead of the verdict, however fast the machine.
    built = threading.Event()
    real_build, real_validate = runner._build, report.validate_step

    def build(con, step):
        real_build(con, step)
        if step.output == "interactions_split":
            built.set()

    def validate(reporter, parent, step, con, fp):
        if step.output == "events_integrated":
            assert built.wait(60)
        return real_validate(reporter, parent, step, con, fp)

    monkeypatch.setattr(runner, "_build", build)
    monkeypatch.setattr(report, "validate_step", validate)
    with pytest.raises(PipelineFailed, match="events_integrated: critical expectations failed"
                       ) as failed:
        run_pipeline(work, reporter=Reporter(client), steps=steps)
    result = failed.value.result
    assert result.skipped == ["interactions_split", "item_features", "user_features",
                              "feature_selection"]
    assert [s.output for s in result.steps] == [s.output for s in steps][:6]
    # The early build was rolled back: nothing built on the failed input is in the database.
    con = duckdb.connect(str(work / "features.duckdb"), read_only=True)
    tables = {t for (t,) in con.execute("select table_name from information_schema.tables")
              .fetchall()}
    con.close()
    assert "events_integrated" in tables and "interactions_split" not in tables
    # Its run ended ABORT, naming the input; it registered no version; nothing later started.
    runs = _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/"
                      "feature_pipeline.interactions_split/runs")["runs"]
    assert [r["state"] for r in runs] == ["ABORTED"]
    assert "input events_integrated failed its critical expectations" in runs[0]["errorMessage"]
    assert runs[0]["outputDatasetVersions"] == []
    assert http.get("/api/v1/namespaces/recsys-pipelines/jobs/"
                    "feature_pipeline.user_features").status_code == 404
    parent = _get(http, f"/api/v1/jobs/runs/{result.run_id}")
    assert parent["state"] == "FAILED" and "events_integrated" in parent["errorMessage"]


def test_step_failing_in_duckdb_fails_its_run_after_the_steps_before_it_report(tmp_path,
                                                                              catalog):
    client, http = catalog
    steps_dir = tmp_path / "steps"
    shutil.copytree(STEPS_DIR, steps_dir)
    sql = steps_dir / "user_features.sql"
    sql.write_text(sql.read_text().replace("group by user_id", "group by no_such_column", 1))
    work = tmp_path / "work"
    land_source(work, "synthetic", events=2_000)
    with pytest.raises(PipelineFailed, match="step user_features failed in DuckDB: .*"
                                             "no_such_column"):
        run_pipeline(work, reporter=Reporter(client), steps=load_steps(steps_dir))

    def latest(job):
        return _get(http, f"/api/v1/namespaces/recsys-pipelines/jobs/feature_pipeline.{job}")[
            "latestRun"]

    failed = latest("user_features")
    assert failed["state"] == "FAILED" and "no_such_column" in failed["errorMessage"]
    # The steps built before it were checked and reported in full, with their versions.
    for job in ("item_features", "interactions_split"):
        assert latest(job)["state"] == "COMPLETED"
        assert latest(f"{job}.validate")["state"] == "COMPLETED"
    assert _get(http, "/api/v1/namespaces/recsys/datasets/item_features")[
        "currentVersionNumber"] == 1
    # Nothing after it started, and the pipeline run failed naming the step.
    assert http.get("/api/v1/namespaces/recsys-pipelines/jobs/"
                    "feature_pipeline.feature_selection").status_code == 404
    assert latest("user_features")["parentRunId"]
    parent = _get(http, f"/api/v1/jobs/runs/{failed['parentRunId']}")
    assert parent["state"] == "FAILED" and "user_features" in parent["errorMessage"]
