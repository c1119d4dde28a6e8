"""Benchmark the export engine against the original article's approach.

moto's Query scans its whole table, far too slowly to measure us with, so both
pipelines read realistic slips (the demo data's: 9 attributes, Japanese text,
about 200 bytes each as DynamoDB counts them) from memory, in DynamoDB's
low-level shape, through the same Query calls; both upload into a moto S3
server started inside this script. Each (pipeline, size) runs in its own
subprocess so its peak RSS is its own; moto holds the uploads in this process.

    .venv/bin/python bench/bench_export.py            # 10k, 100k, 1M items (~2 min)
    .venv/bin/python bench/bench_export.py 10000 50000

Prints a table, then as the last line one JSON object with ``items_per_s`` and
``baseline_items_per_s`` (at the largest size), ``peak_rss_mb_10k`` and
``peak_rss_mb_1m`` (our pipeline), and the same for the Excel workbook alone
(``xlsx_items_per_s``, ``xlsx_peak_rss_mb_*``). Targets: at least 2x the baseline's items/s,
and peak RSS at 1M within 64 MB of the 10k run.
"""

from __future__ import annotations

import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp.archive.dates import DateRange  # noqa: E402
from webapp.archive.dynamo import iter_pages  # noqa: E402
from webapp.archive.export import Exporter, ExportRequest  # noqa: E402
from webapp.aws import Clients  # noqa: E402
from webapp.local.resources import create_bucket  # noqa: E402
from webapp.local.stack import BUCKET, REGION, fake_credentials, start_moto  # noqa: E402
from webapp.model import SPECS, TABLES  # noqa: E402
from webapp.settings import Settings  # noqa: E402

SIZES = (10_000, 100_000, 1_000_000)
PAGE = 1_000
SUB = "0c9a5f3e-6b1d-4a57-9a4e-1f2d3c4b5a69"
TABLE_NAMES = {"slips": "bench-slips", "balances": "bench-balances"}
RANGE = DateRange(date(2000, 1, 1), date(2099, 12, 31))


class MemoryDynamoDB:
    """Answer Query with pages of realistic slips, built once and served in turn.

    Building each item afresh would cost as much as a third of the baseline: the
    benchmark would measure its own generator. Ten distinct pages repeat every
    few megabytes, far beyond deflate's 32 KiB window, so they compress like
    fresh data.
    """

    def __init__(self, total: int, distinct_pages: int = 10) -> None:
        from boto3.dynamodb.types import TypeSerializer

        from webapp.local.demo import iter_slips

        serializer = TypeSerializer()
        slips = iter_slips(SUB, "bench", date(2026, 11, 1), days=100_000)
        typed = [
            {k: serializer.serialize(v) for k, v in slip.items()}
            for slip, _ in zip(slips, range(PAGE * distinct_pages), strict=False)
        ]
        self.pages = [typed[i : i + PAGE] for i in range(0, len(typed), PAGE)]
        self.total = total
        self.served = 0

    def query(self, **request: Any) -> dict[str, Any]:
        if request["TableName"] != TABLE_NAMES["slips"]:
            return {"Items": []}
        if "ExclusiveStartKey" not in request:
            self.served = 0
        count = min(PAGE, self.total - self.served)
        items = self.pages[self.served // PAGE % len(self.pages)][:count]
        self.served += count
        page: dict[str, Any] = {"Items": items, "Count": count}
        if self.served < self.total:
            last = items[-1]
            page["LastEvaluatedKey"] = {"user_id": last["user_id"], "sk": last["sk"]}
        return page


def item_size(item: dict[str, Any]) -> int:
    """Return roughly what DynamoDB counts for a typed item of strings and numbers."""
    size = 0
    for name, value in item.items():
        ((kind, inner),) = value.items()
        size += len(name.encode())
        size += len(inner.encode()) if kind == "S" else len(inner) // 2 + 1
    return size


def run_ours(dynamodb: Any, s3: Any) -> int:
    """Export with our engine; return the archive's size."""
    result = Exporter(dynamodb, TABLE_NAMES, s3, BUCKET).export(ExportRequest(SUB, RANGE))
    return result.size


def run_article(dynamodb: Any, s3: Any) -> int:
    """Export the article's way: resource-style items, files in a temp dir, zip, upload_file."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = []
        for table in TABLES:
            columns = SPECS[table].columns
            csv_path, json_path = folder / f"{table}.csv", folder / f"{table}.json"
            with (
                csv_path.open("w", newline="", encoding="utf-8-sig") as csv_file,
                json_path.open("w", encoding="utf-8") as json_file,
            ):
                writer = csv.writer(csv_file)
                writer.writerow(columns)
                for page in iter_pages(dynamodb, TABLE_NAMES[table], SUB, RANGE):
                    for raw in page:
                        item = {k: deserializer.deserialize(v) for k, v in raw.items()}
                        writer.writerow([item.get(column, "") for column in columns])
                        json.dump(item, json_file, ensure_ascii=False, default=str)
                        json_file.write("\n")
            names += [csv_path, json_path]
        zip_path = folder / "export.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in names:
                archive.write(path, path.name)
        s3.upload_file(str(zip_path), BUCKET, "exports/bench/article.zip")
        return zip_path.stat().st_size


def run_xlsx(dynamodb: Any, s3: Any) -> int:
    """Export with our engine as the Excel workbook only (constant_memory, via a temp file)."""
    request = ExportRequest(SUB, RANGE, formats=frozenset({"xlsx"}))
    result = Exporter(dynamodb, TABLE_NAMES, s3, BUCKET).export(request)
    return result.size


PIPELINES = {"ours": run_ours, "article": run_article, "xlsx": run_xlsx}


def child(pipeline: str, total: int, endpoint: str) -> None:
    """Run one pipeline once in this process; print seconds, size and peak RSS as JSON."""
    settings = Settings(
        export_bucket=BUCKET,
        slips_table=TABLE_NAMES["slips"],
        balances_table=TABLE_NAMES["balances"],
        cognito_user_pool_id="unused",
        cognito_client_id="unused",
        region=REGION,
        app_table="app",
        jobs_queue_url="http://127.0.0.1:9/queue/jobs",
        endpoint_url=endpoint,
        local=True,
    )
    s3 = Clients(settings).s3
    dynamodb = MemoryDynamoDB(total)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    size = PIPELINES[pipeline](dynamodb, s3)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    figures = {"seconds": seconds, "cpu": cpu, "bytes": size, "rss_mb": _peak_rss_mb()}
    print(json.dumps(figures))


def _peak_rss_mb() -> float:
    """Return this process's peak resident set size in MB (MiB)."""
    # ru_maxrss survives exec: a child would report the parent's peak (moto
    # holding the archives) if that was larger. VmHWM belongs to this image.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(pipeline: str, total: int, endpoint: str) -> dict[str, float]:
    """Run one pipeline in a fresh interpreter; return its figures."""
    answer = subprocess.run(
        [sys.executable, __file__, "--child", pipeline, str(total), endpoint],
        capture_output=True,
        text=True,
    )
    if answer.returncode:
        sys.stderr.write(answer.stderr)
        raise SystemExit(f"the {pipeline} run of {total:,} items failed")
    figures: dict[str, float] = json.loads(answer.stdout.strip().splitlines()[-1])
    return figures


def empty_bucket(s3: Any) -> None:
    """Delete every object, so moto's memory does not grow from run to run."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])


def main(sizes: tuple[int, ...]) -> dict[str, float]:
    """Measure both pipelines at each size; print the table and return the summary."""
    fake_credentials()
    server, endpoint = start_moto()
    try:
        settings = Settings(
            export_bucket=BUCKET,
            slips_table="unused",
            balances_table="unused",
            cognito_user_pool_id="unused",
            cognito_client_id="unused",
            region=REGION,
            app_table="app",
            jobs_queue_url="http://127.0.0.1:9/queue/jobs",
            endpoint_url=endpoint,
            local=True,
        )
        s3 = Clients(settings).s3
        create_bucket(s3, BUCKET, REGION, retention_days=1)
        sample = MemoryDynamoDB(PAGE).pages[0]
        print(
            f"input: pages of {PAGE:,} slips, {len(sample[0])} attributes, "
            f"{sum(map(item_size, sample)) / len(sample):.0f} bytes each on average "
            "(DynamoDB's item size)"
        )
        columns = ("items", "pipeline", "seconds", "CPU s", "items/s", "zip MB", "peak RSS MB")
        widths = (10, 9, 8, 7, 9, 7, 12)
        print(
            " ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)),
            f"{'vs article':>11}",
        )
        results: dict[tuple[str, int], dict[str, float]] = {}
        for total in sizes:
            for pipeline in ("article", "ours", "xlsx"):
                figures = measure(pipeline, total, endpoint)
                empty_bucket(s3)
                results[pipeline, total] = figures
                ratio = results["article", total]["seconds"] / figures["seconds"]
                print(
                    f"{total:>10,} {pipeline:>9} {figures['seconds']:>8.2f} "
                    f"{figures['cpu']:>7.2f} {total / figures['seconds']:>9,.0f} "
                    f"{figures['bytes'] / 1e6:>7.1f} {figures['rss_mb']:>12.1f} "
                    f"{ratio:>10.2f}x",
                    flush=True,
                )
    finally:
        server.stop()
    largest, smallest = max(sizes), min(sizes)
    summary = {
        "items_per_s": round(largest / results["ours", largest]["seconds"]),
        "baseline_items_per_s": round(largest / results["article", largest]["seconds"]),
        f"peak_rss_mb_{_label(smallest)}": round(results["ours", smallest]["rss_mb"], 1),
        f"peak_rss_mb_{_label(largest)}": round(results["ours", largest]["rss_mb"], 1),
        "xlsx_items_per_s": round(largest / results["xlsx", largest]["seconds"]),
        f"xlsx_peak_rss_mb_{_label(smallest)}": round(results["xlsx", smallest]["rss_mb"], 1),
        f"xlsx_peak_rss_mb_{_label(largest)}": round(results["xlsx", largest]["rss_mb"], 1),
    }
    speedup = summary["items_per_s"] / summary["baseline_items_per_s"]
    growth = results["ours", largest]["rss_mb"] - results["ours", smallest]["rss_mb"]
    print(
        f"speed-up at {largest:,} items: {speedup:.2f}x (target ≥ 2x: "
        f"{'met' if speedup >= 2 else 'MISSED'})"
    )
    print(
        f"peak RSS growth {smallest:,} → {largest:,} items: {growth:+.1f} MB "
        f"(target ≤ 64 MB: {'met' if growth <= 64 else 'MISSED'})"
    )
    return summary


def _label(total: int) -> str:
    return f"{total // 1_000_000}m" if total % 1_000_000 == 0 else f"{total // 1_000}k"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        chosen = tuple(int(arg) for arg in sys.argv[1:]) or SIZES
        print(json.dumps(main(chosen)))
