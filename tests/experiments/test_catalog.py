import multiprocessing as mp
import sqlite3

from hessianlab.experiments.catalog import Catalog


def _writer(root: str, worker: int, n: int) -> None:
    cat = Catalog(root)
    for i in range(n):
        run_id = f"w{worker}-r{i}"
        cat.upsert_run(run_id, f"h{i}", "running", {"worker": worker, "i": i})
        cat.put_result(run_id, "eigs", "k1", {"value": worker * 1000 + i})
        cat.upsert_run(run_id, f"h{i}", "finished", {"worker": worker, "i": i}, {"train_loss": 0.1})


def test_concurrent_writers_do_not_corrupt(tmp_path):
    n = 60
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, n)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    cat = Catalog(tmp_path)
    rows = cat.runs()
    assert len(rows) == 2 * n
    assert all(r["status"] == "finished" for r in rows)
    results = list(cat.results(kind="eigs"))
    assert sorted(r["payload"]["value"] for r in results) == sorted(w * 1000 + i for w in range(2) for i in range(n))
    conn = sqlite3.connect(tmp_path / "catalog.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_filters(tmp_path):
    cat = Catalog(tmp_path)
    assert cat.runs() == []
    cat.upsert_run("a", "h1", "finished", {"x": 1})
    cat.upsert_run("b", "h2", "diverged", {"x": 2})
    assert [r["run_id"] for r in cat.runs(status="diverged")] == ["b"]
    assert [r["run_id"] for r in cat.runs(config_hash="h1")] == ["a"]


def test_many_processes_creating_one_catalog_at_once(tmp_path):
    """The first open of a new catalog (WAL switch, schema creation) races between processes."""
    ctx = mp.get_context("spawn")
    for attempt in range(2):
        root = tmp_path / f"fresh{attempt}"
        procs = [ctx.Process(target=_writer, args=(str(root), w, 3)) for w in range(5)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
        assert len(Catalog(root).runs()) == 15
