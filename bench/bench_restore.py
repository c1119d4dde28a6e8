"""Benchmark the restore write path: items/s against moto, and peak memory at 100k items.

Each archive is a signed zip of N realistic slips of one user (the demo data's:
9 attributes, Japanese text), written with the export's own encoders and in
sort-key order, beside an empty balances table. A restore runs as the restore
job does once the archive is downloaded: open, check the signature, verify
every file and item, compare with the table (``as_user`` the archive's owner),
spool the requests to a temp file, write them with BatchWriteItem.

Throughput: into an empty moto table (all new: N puts), then again over the
now-identical table (all unchanged: the compare path, no writes). moto runs in
a process of its own, as AWS runs on other machines, and only up to
``MOTO_MAX`` items: it writes ≈600-900 items/s (100k: ≈2-3 min of writes alone),
and every Query page scans the whole table (one 1 MB page of ≈5,000 slips took
≈10 s out of a 10k table), so the compare run grows as N squared (100k: ≈30 min).

Memory: each size restores in a fresh interpreter against an in-memory
DynamoDB that keeps nothing (empty: writes are counted and dropped; same:
Query serves the archive's own items a page at a time, decoding them in this
process, which makes the in-memory compare look slower than it is). The empty
run is done twice: timed with RSS growth (VmHWM minus VmRSS before), then under
tracemalloc (≈4.5x slower) for the peak of Python allocations.

    .venv/bin/python bench/bench_restore.py              # 10k and 100k items (~4 min)
    .venv/bin/python bench/bench_restore.py 10000 50000

Prints a table, then one JSON line: ``restore_items_per_s_moto`` and
``compare_items_per_s`` (moto, largest size it serves), the same in memory,
and ``peak_mb_<size>``. Targets: peak Python allocations at 100k under 64 MB
(a Lambda has 1,769 MB for a full vCPU), and independent of N: at most 8 MB
above the smallest size's peak (under 90 bytes per extra item).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp.archive import encode  # noqa: E402
from webapp.archive.manifest import (  # noqa: E402
    CSV,
    DYNAMODB_JSON,
    FORMAT_VERSION,
    MANIFEST_NAME,
    README_NAME,
    TEXT,
    FileEntry,
    Manifest,
    TableEntry,
    data_file,
)
from webapp.archive.reader import open_archive  # noqa: E402
from webapp.archive.restore import RestoreRequest, TableRestore, restore_archive  # noqa: E402
from webapp.archive.signing import SIGNATURE_NAME, SigningKey, StaticKeyring, sign  # noqa: E402
from webapp.aws import Clients  # noqa: E402
from webapp.local.resources import create_table  # noqa: E402
from webapp.local.stack import fake_credentials, provision  # noqa: E402
from webapp.model import KEY_SCHEMA, SPECS, TableName  # noqa: E402

SIZES = (10_000, 100_000)
MOTO_MAX = 10_000
PAGE = 1_000
SUB = "0c9a5f3e-6b1d-4a57-9a4e-1f2d3c4b5a69"
END = date(2026, 11, 1)
KEY = SigningKey(kid="static", secret=b"bench-archive-key-0123456789abcdef0123456789")
TABLE_NAMES: dict[TableName, str] = {"slips": "bench-slips", "balances": "bench-balances"}


def build_archive(path: Path, total: int) -> None:
    """Write a signed archive of ``total`` slips in sort-key order, as the export would."""
    from boto3.dynamodb.types import TypeSerializer

    from webapp.local.demo import iter_slips

    serializer = TypeSerializer()
    # A few slips a day: 2 and a bit on average, so total // 2 days are plenty.
    slips = list(islice(iter_slips(SUB, "bench", END, days=total // 2 + 31), total))
    assert len(slips) == total
    slips.sort(key=lambda slip: str(slip["sk"]))
    typed = [{k: serializer.serialize(v) for k, v in slip.items()} for slip in slips]
    bodies: dict[TableName, dict[str, bytes]] = {}
    contents: dict[TableName, list[dict[str, Any]]] = {"slips": typed, "balances": []}
    for table, items in contents.items():
        spec = SPECS[table]
        pages = [items[i : i + PAGE] for i in range(0, len(items), PAGE)]
        csv = encode.csv_header(spec) + "".join(encode.csv_rows(page, spec) for page in pages)
        lines = "".join(encode.json_lines(page, spec) for page in pages)
        bodies[table] = {CSV: csv.encode(), DYNAMODB_JSON: lines.encode()}
    entries = {
        table: TableEntry(
            table=table,
            table_name=TABLE_NAMES[table],
            item_count=len(typed) if table == "slips" else 0,
            files={
                data_file(table, ext): FileEntry(
                    data_file(table, ext), fmt, len(body), hashlib.sha256(body).hexdigest()
                )
                for (fmt, body), ext in zip(files.items(), ("csv", "json"), strict=True)
            },
        )
        for table, files in bodies.items()
    }
    # The manifest lists README.txt too (format version 2), so its signature covers it.
    readme = b"Kakeibo Export archive (benchmark)\n"
    text = FileEntry(README_NAME, TEXT, len(readme), hashlib.sha256(readme).hexdigest())
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        created_at="2026-11-01T12:00:00Z",
        user_sub=SUB,
        range_start=str(slips[0]["date"]),
        range_end=END.isoformat(),
        tables=entries,
        files={README_NAME: text},
    ).to_json()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for table, files in bodies.items():
            for fmt, ext in ((CSV, "csv"), (DYNAMODB_JSON, "json")):
                zf.writestr(data_file(table, ext), files[fmt])
        zf.writestr(MANIFEST_NAME, manifest)
        zf.writestr(SIGNATURE_NAME, sign(manifest, KEY))
        zf.writestr(README_NAME, readme)


def restore(dynamodb: Any, path: Path) -> TableRestore:
    """Restore as the restore job does once downloaded; return the slips table's result."""
    with open_archive(path) as reader:
        reader.check_signature(StaticKeyring(KEY))
        request = RestoreRequest(as_user=SUB)
        results = restore_archive(reader, request, dynamodb=dynamodb, tables=TABLE_NAMES).tables
    return results["slips"]


class MemoryDynamoDB:
    """A DynamoDB that keeps nothing: writes are counted, Query serves ``serve``'s slips."""

    def __init__(self, serve: Path | None = None) -> None:
        self.archive = open_archive(serve) if serve else None
        self.pages: Iterator[list[dict[str, Any]]] = iter(())
        self.written = 0

    def describe_table(self, *, TableName: str) -> dict[str, Any]:  # noqa: N803 (boto3's)
        return {"Table": {"TableName": TableName, "KeySchema": KEY_SCHEMA}}

    def query(self, **request: Any) -> dict[str, Any]:
        if self.archive is None or request["TableName"] != TABLE_NAMES["slips"]:
            return {"Items": []}
        if "ExclusiveStartKey" not in request:
            items = self.archive.iter_items("slips")
            self.pages = iter(lambda: list(islice(items, PAGE)), [])
        page = next(self.pages, [])
        answer: dict[str, Any] = {"Items": page, "Count": len(page)}
        if len(page) == PAGE:
            answer["LastEvaluatedKey"] = {k: page[-1][k] for k in ("user_id", "sk")}
        return answer

    def batch_write_item(self, *, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # noqa: N803
        self.written += sum(map(len, RequestItems.values()))
        return {"UnprocessedItems": {}}


def _status_mb(field: str) -> float:
    """Return VmRSS (now) or VmHWM (peak) of this process in MB: ru_maxrss survives exec."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith(field))


def child(path: Path, state: str) -> None:
    """Restore twice in this fresh process: timed with RSS, then under tracemalloc."""
    dynamodb = MemoryDynamoDB(path if state == "same" else None)
    before = _status_mb("VmRSS:")
    started = time.perf_counter()
    result = restore(dynamodb, path)
    seconds = time.perf_counter() - started
    figures = {"seconds": seconds, "written": result.written, "unchanged": result.unchanged}
    figures["rss_mb"] = _status_mb("VmHWM:") - before
    if state == "empty":  # tracemalloc makes a restore 4 to 5 times slower: once is enough
        tracemalloc.start()
        restore(dynamodb, path)
        figures["peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(json.dumps(figures))


def in_memory(path: Path, state: str) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, __file__, "--child", str(path), state], capture_output=True, text=True
    )
    if answer.returncode:
        sys.stderr.write(answer.stderr)
        raise SystemExit(f"the in-memory {state} restore of {path.name} failed")
    figures: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    return figures


def on_moto(dynamodb: Any, path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Restore into a fresh empty table, then again over it; return both runs' figures."""
    dynamodb.delete_table(TableName=TABLE_NAMES["slips"])
    create_table(dynamodb, TABLE_NAMES["slips"])
    runs = []
    for state in ("empty", "same"):
        started = time.perf_counter()
        result = restore(dynamodb, path)
        seconds = time.perf_counter() - started
        runs.append((state, {"seconds": seconds, **result.__dict__}))
    return runs


def start_moto_elsewhere() -> tuple[subprocess.Popen[str], str]:
    """Start moto in its own process (as ``bench_jobs`` does); return it and its URL."""
    code = (
        "import threading\n"
        "from webapp.local.stack import fake_credentials, start_moto\n"
        "fake_credentials()\n"
        "server, endpoint = start_moto()\n"
        "print(endpoint, flush=True)\n"
        "threading.Event().wait()\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def main(sizes: tuple[int, ...]) -> dict[str, Any]:
    fake_credentials()
    server, endpoint = start_moto_elsewhere()
    summary: dict[str, Any] = {}
    peaks: dict[int, float] = {}
    columns = ("items", "DynamoDB", "table", "seconds", "items/s", "written", "unchanged")
    print(" ".join(f"{c:>9}" for c in columns), f"{'py peak MB':>10} {'B/item':>7} {'RSS +MB':>8}")
    try:
        dynamodb = Clients(provision(endpoint)).dynamodb
        for name in TABLE_NAMES.values():
            create_table(dynamodb, name)
        with tempfile.TemporaryDirectory() as tmp:
            for total in sizes:
                path = Path(tmp) / f"archive-{total}.zip"
                build_archive(path, total)
                rows: list[tuple[str, str, dict[str, Any]]] = []
                if total <= MOTO_MAX:
                    rows += [("moto", state, got) for state, got in on_moto(dynamodb, path)]
                rows += [("memory", state, in_memory(path, state)) for state in ("empty", "same")]
                for where, state, got in rows:
                    expect = (total, 0) if state == "empty" else (0, total)
                    assert (got["written"], got["unchanged"]) == expect, (where, state, got)
                    rate = total / got["seconds"]
                    memory = f"{'':>10} {'':>7}"
                    if "peak_bytes" in got:
                        peaks[total] = got["peak_bytes"] / 2**20
                        memory = f"{peaks[total]:>10.1f} {got['peak_bytes'] / total:>7.0f}"
                    if "rss_mb" in got:
                        memory += f" {got['rss_mb']:>8.1f}"
                    print(
                        f"{total:>9,} {where:>9} {state:>9} {got['seconds']:>9.2f} {rate:>9,.0f} "
                        f"{got['written']:>9,} {got['unchanged']:>9,} {memory}",
                        flush=True,
                    )
                    kind = "restore" if state == "empty" else "compare"
                    suffix = "_moto" if where == "moto" else "_memory"
                    summary[f"{kind}_items_per_s{suffix}"] = round(rate)
                path.unlink()
    finally:
        server.terminate()
        server.wait()
    summary["compare_items_per_s"] = summary.pop("compare_items_per_s_moto", None)
    for total, mb in peaks.items():
        summary[f"peak_mb_{_label(total)}"] = round(mb, 1)
    largest, smallest = max(peaks), min(peaks)
    growth = peaks[largest] - peaks[smallest]
    print(
        f"peak Python allocations at {largest:,} items: {peaks[largest]:.1f} MB (target < 64 MB: "
        f"{'met' if peaks[largest] < 64 else 'MISSED'}); growth from {smallest:,}: "
        f"{growth:+.1f} MB (target ≤ 8 MB: {'met' if growth <= 8 else 'MISSED'})"
    )
    return summary


def _label(total: int) -> str:
    return f"{total // 1_000_000}m" if total % 1_000_000 == 0 else f"{total // 1_000}k"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(Path(sys.argv[2]), sys.argv[3])
    else:
        chosen = tuple(int(arg) for arg in sys.argv[1:]) or SIZES
        print(json.dumps(main(chosen)))
