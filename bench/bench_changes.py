"""Benchmark the change log: the recorder's items per second, and local mode's recovery point.

1. **Recorder throughput**: Lambda-shaped stream events of 100 realistic slip
   changes (old and new images, 20 users per batch) handed to ``Recorder.handle``,
   writing into moto's S3 (embedded server, as ``make run``): items per second.
2. **Recovery point** (local mode): with the local poller thread running as in
   ``make run``, ``N`` slips are written one by one with PutItem (about 50 a
   second); for each, the time from its PutItem returning to the log object that
   holds its change being written (PutObject returned): median and 95th percentile.
   On AWS the same is bounded by the mappings' batching window (10 s) plus the
   function's run.

    .venv/bin/python bench/bench_changes.py          # 1,000 writes, 10,000 recorded items
    .venv/bin/python bench/bench_changes.py 200 2000

Prints a table, then as the last line one JSON object with ``recorder_items_per_s``,
``recorder_cpu_items_per_s`` (the same batches with S3 left out),
``recovery_point_median_s``, ``recovery_point_p95_s``, ``writes`` and ``items``.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp.changes.record import Change  # noqa: E402
from webapp.changes.recorder import Recorder  # noqa: E402
from webapp.changes.store import ChangeLog  # noqa: E402
from webapp.local.recorder import LocalRecorder  # noqa: E402
from webapp.local.stack import fake_credentials, provision, start_moto  # noqa: E402
from webapp.services import Services  # noqa: E402

BATCH = 100
USERS = 20


def slip(user: str, n: int, memo: str) -> dict[str, Any]:
    return {
        "user_id": {"S": user},
        "sk": {"S": f"2026-11-{1 + n % 28:02d}#{n:06d}"},
        "date": {"S": f"2026-11-{1 + n % 28:02d}"},
        "kind": {"S": "expense"},
        "category": {"S": "食費"},
        "account": {"S": "cash"},
        "amount": {"N": str(-100 - n % 5000)},
        "memo": {"S": memo},
        "created_at": {"S": "2026-11-30T12:00:00Z"},
    }


def events(settings: Any, items: int) -> list[dict[str, Any]]:
    users = [str(uuid.uuid4()) for _ in range(USERS)]
    arn = f"arn:aws:dynamodb:ap-northeast-1:1:table/{settings.slips_table}/stream/x"
    built, seq, now = [], 10_000, time.time()
    for start in range(0, items, BATCH):
        records = []
        for n in range(start, min(items, start + BATCH)):
            user = users[n % USERS]
            seq += 1
            records.append(
                {
                    "eventID": uuid.uuid4().hex,
                    "eventName": "MODIFY",
                    "eventSource": "aws:dynamodb",
                    "eventSourceARN": arn,
                    "dynamodb": {
                        "ApproximateCreationDateTime": now + n / 1000,
                        "Keys": {"user_id": {"S": user}, "sk": {"S": f"2026-11-01#{n:06d}"}},
                        "OldImage": slip(user, n, "ランチ"),
                        "NewImage": slip(user, n, "ランチ（訂正）"),
                        "SequenceNumber": str(seq),
                        "StreamViewType": "NEW_AND_OLD_IMAGES",
                    },
                }
            )
        built.append({"Records": records})
    return built


def recorder_throughput(services: Services, items: int) -> float:
    batches = events(services.settings, items)
    started = time.perf_counter()
    for event in batches:
        assert services.recorder.handle(event) == {"batchItemFailures": []}
    return items / (time.perf_counter() - started)


class NullLog(ChangeLog):
    """The change log's encoding without S3: what the recorder costs in CPU alone."""

    def put_changes(self, segment: Any, changes: list[Change]) -> str:
        from webapp.changes.record import encode

        encode(changes)
        return ""

    def mark_since(self, *args: Any) -> None:
        return None


def encoding_throughput(services: Services, items: int) -> float:
    settings = services.settings
    recorder = Recorder(NullLog(None, ""), settings.data_tables, now=services.now)  # type: ignore[arg-type]
    batches = events(settings, items)
    started = time.perf_counter()
    for event in batches:
        recorder.handle(event)
    return items / (time.perf_counter() - started)


class TimedLog(ChangeLog):
    """The change log, noting when each change became durable (its PutObject returned)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.durable: dict[str, float] = {}
        self.lock = threading.Lock()

    def put_changes(self, segment: Any, changes: list[Change]) -> str:
        key = super().put_changes(segment, changes)
        done = time.perf_counter()
        with self.lock:
            for change in changes:
                self.durable.setdefault(change.sk, done)
        return key


def recovery_point(services: Services, writes: int) -> list[float]:
    settings = services.settings
    log = TimedLog(services.clients.s3, settings.export_bucket)
    poller = LocalRecorder(services, Recorder(log, settings.data_tables, now=services.now))
    poller.skip_to_latest()
    poller.start()
    user, written = str(uuid.uuid4()), {}
    try:
        for n in range(writes):
            item = slip(user, n, "bench")
            services.clients.dynamodb.put_item(TableName=settings.slips_table, Item=item)
            written[item["sk"]["S"]] = time.perf_counter()
            time.sleep(0.02)
        deadline = time.perf_counter() + 30
        while len(log.durable) < writes and time.perf_counter() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    return [log.durable[sk] - at for sk, at in written.items() if sk in log.durable]


#: The issue's recovery point: a write durable in S3 within a minute.
TARGET_S = 60


def main() -> None:
    try:
        writes = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
        items = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    except ValueError:
        raise SystemExit("usage: bench_changes.py [WRITES [ITEMS]] (whole numbers)") from None
    fake_credentials()
    server, endpoint = start_moto()
    try:
        services = Services(provision(endpoint))
        cpu = encoding_throughput(services, items)
        rate = recorder_throughput(services, items)
        lags = sorted(recovery_point(services, writes))
    finally:
        server.stop()
    median = statistics.median(lags)
    p95 = lags[max(0, int(round(0.95 * len(lags))) - 1)]
    print(f"{'measure':<44} {'value':>14}")
    print(f"{'recorder, items/s (batches of 100, moto S3)':<44} {rate:>14,.0f}")
    print(f"{'recorder without S3 (parse, group, gzip)':<44} {cpu:>14,.0f}")
    print(f"{'recovery point, median (local poller)':<44} {median:>13.3f}s")
    print(f"{'recovery point, 95th percentile':<44} {p95:>13.3f}s")
    print(f"{'writes made durable':<44} {len(lags):>8,} of {writes:,}")
    verdict = "met" if p95 <= TARGET_S and len(lags) == writes else "MISSED"
    print(f"\nrecovery point, 95th percentile: {p95:.3f} s (target ≤ {TARGET_S} s: {verdict})")
    print(
        json.dumps(
            {
                "recorder_items_per_s": round(rate),
                "recorder_cpu_items_per_s": round(cpu),
                "recovery_point_median_s": round(median, 3),
                "recovery_point_p95_s": round(p95, 3),
                "writes": writes,
                "durable": len(lags),
                "items": items,
            }
        )
    )


if __name__ == "__main__":
    main()
