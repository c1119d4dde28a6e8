"""Benchmarks never rot: each bench/ script runs at its smallest size and says what it found.

Each script's last line is one JSON object (what ``make bench`` readers and the README
take figures from); every target it measures is printed as met or MISSED. The sizes
here only prove that the script still runs against today's code: the figures mean
nothing at this size, so no timing is asserted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Each script, its smallest run, and the keys its last line must hold.
BENCHES: dict[str, tuple[list[str], set[str]]] = {
    "bench_export.py": (
        ["2000"],
        {
            "items_per_s",
            "baseline_items_per_s",
            "peak_rss_mb_2k",
            "xlsx_items_per_s",
            "xlsx_peak_rss_mb_2k",
        },
    ),
    "bench_jobs.py": (
        ["2000"],
        {
            "overhead_pct_2k",
            "end_to_end_overhead_pct_2k",
            "record_writes_2k",
            "record_writes_bound_2k",
        },
    ),
    "bench_restore.py": (
        ["1000"],
        {
            "restore_items_per_s_moto",
            "restore_items_per_s_memory",
            "compare_items_per_s_memory",
            "compare_items_per_s",
            "peak_mb_1k",
        },
    ),
    "bench_changes.py": (
        ["20", "200"],
        {
            "recorder_items_per_s",
            "recorder_cpu_items_per_s",
            "recovery_point_median_s",
            "recovery_point_p95_s",
            "writes",
            "durable",
            "items",
        },
    ),
    "bench_coldstart.py": (
        ["1"],
        {
            "python",
            "runs",
            "target_ratio",
            *(
                f"{case}_{what}"
                for case in ("baseline", "web", "worker", "dispatcher")
                for what in ("ms", "cpu_ms")
            ),
            *(
                f"{case}_{what}"
                for case in ("web", "worker", "dispatcher")
                for what in ("ratio", "cpu_ratio")
            ),
            "zip_bytes",
        },
    ),  # fmt: skip
    "bench_readback.py": (
        ["1000"],
        {
            "export_s_1000",
            "export_readback_s_1000",
            "export_readback_gets_1000",
            "backup_readback_s_1000",
            "backup_readback_gets_1000",
            "export_readback_gets_max",
        },
    ),
}
VERDICT = re.compile(r"target [^)]*: (met|MISSED)\)")


def test_every_bench_script_is_covered() -> None:
    assert {path.name for path in (ROOT / "bench").glob("bench_*.py")} == set(BENCHES)


@pytest.mark.parametrize("script", sorted(BENCHES))
def test_a_bench_runs_at_its_smallest_size_and_reports(script: str) -> None:
    arguments, keys = BENCHES[script]
    answer = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert answer.returncode == 0, answer.stderr[-3000:]
    lines = answer.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    if summary.get("skipped"):  # the cold-start bench without CPython 3.12
        if os.environ.get("CI") == "true":
            pytest.fail(f"{script} skipped under CI: {summary['skipped']}")
        pytest.skip(f"{script}: {summary['skipped']}")
    assert set(summary) == keys
    targets = [line for line in lines[:-1] if "target" in line]
    assert targets, "no target is reported"
    for line in targets:
        assert VERDICT.search(line), f"a target without met or MISSED: {line!r}"
