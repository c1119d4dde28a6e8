"""What reading an archive back after writing it costs (``archive/verify.py``).

An export reads back only the zip's end, directory, manifest and signature with
ranged GETs; an automatic backup reads back everything (every file hashed, every
item decoded and counted). Both are measured here against the export itself, on
distinct, sorted slips served from memory (moto's Query is too slow to measure
with) and uploaded into a moto S3 started inside this script.

    .venv/bin/python bench/bench_readback.py             # 10k and 100k items
    .venv/bin/python bench/bench_readback.py 1000000

Prints a table: items, archive size, the export's seconds, then per way of
reading back its seconds and the GETs it made.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp.archive.dates import EVERYTHING  # noqa: E402
from webapp.archive.export import Exporter, ExportRequest  # noqa: E402
from webapp.archive.signing import SigningKey, StaticKeyring  # noqa: E402
from webapp.archive.verify import verify_stored  # noqa: E402
from webapp.local.stack import fake_credentials, start_moto  # noqa: E402

SUB = "0c9a5f3e-6b1d-4a57-9a4e-1f2d3c4b5a69"
BUCKET = "bench-readback"
TABLES = {"slips": "bench-slips", "balances": "bench-balances"}
PAGE = 1_000
SIZES = (10_000, 100_000)
#: An export's read-back reads the zip's end, directory, manifest and signature: four GETs.
EXPORT_GETS = 4


class SortedSlips:
    """Answer Query with distinct slips in sort-key order, as a restore insists."""

    def __init__(self, total: int) -> None:
        self.items = [
            {
                "user_id": {"S": SUB},
                "sk": {"S": f"2020-01-01#{n:08d}"},
                "date": {"S": "2020-01-01"},
                "kind": {"S": "expense"},
                "category": {"S": "食費"},
                "account": {"S": "cash"},
                "amount": {"N": str(-(n % 5000))},
                "memo": {"S": f"スーパー {n % 97}"},
                "created_at": {"S": "2020-01-01T10:00:00Z"},
            }
            for n in range(total)
        ]

    def query(self, **request: Any) -> dict[str, Any]:
        if request["TableName"] != TABLES["slips"]:
            return {"Items": []}
        after = request.get("ExclusiveStartKey")
        start = int(after["sk"]["S"].split("#")[1]) + 1 if after else 0
        items = self.items[start : start + PAGE]
        page: dict[str, Any] = {"Items": items, "Count": len(items)}
        if start + PAGE < len(self.items):
            page["LastEvaluatedKey"] = {"user_id": items[-1]["user_id"], "sk": items[-1]["sk"]}
        return page


def main(sizes: tuple[int, ...]) -> None:
    import boto3

    fake_credentials()
    server, endpoint = start_moto()
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        gets: list[int] = []
        s3.meta.events.register("before-call.s3.GetObject", lambda **_: gets.append(1))
        key = SigningKey("v1", b"k" * 32)
        summary: dict[str, float | int] = {}
        print("| items | archive | export | read back | seconds | GETs |")
        print("| ---: | ---: | ---: | --- | ---: | ---: |")
        for total in sizes:
            engine = Exporter(SortedSlips(total), TABLES, s3, BUCKET, signing_key=key)
            started = time.perf_counter()
            made = engine.export(ExportRequest(SUB, EVERYTHING))
            exported = time.perf_counter() - started
            for full in (False, True):
                gets.clear()
                started = time.perf_counter()
                verify_stored(
                    s3,
                    BUCKET,
                    made.key,
                    StaticKeyring(key),
                    size=made.size,
                    counts=made.counts,
                    full=full,
                )
                took = time.perf_counter() - started
                how = "whole (backup)" if full else "directory (export)"
                print(
                    f"| {total:,} | {made.size / 1e6:.1f} MB | {exported:.2f} s | {how} "
                    f"| {took:.2f} | {len(gets)} |"
                )
                kind = "backup" if full else "export"
                summary[f"{kind}_readback_s_{total}"] = round(took, 3)
                summary[f"{kind}_readback_gets_{total}"] = len(gets)
            summary[f"export_s_{total}"] = round(exported, 3)
        most = max(summary[f"export_readback_gets_{total}"] for total in sizes)
        verdict = "met" if most <= EXPORT_GETS else "MISSED"
        print(
            f"\nan export's read-back, most GETs at any size: {most} "
            f"(target ≤ {EXPORT_GETS}, whatever the size: {verdict})"
        )
        summary["export_readback_gets_max"] = most
        print(json.dumps(summary))
    finally:
        server.stop()


if __name__ == "__main__":
    main(tuple(int(arg) for arg in sys.argv[1:]) or SIZES)
