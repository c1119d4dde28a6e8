"""Local mode stops promptly: within 2 s of SIGTERM, with exit status 0 (issue 17)."""

from __future__ import annotations

from pathlib import Path

from support import LocalRun

#: What the issue asks for: `kill` ends `make run` within this many seconds.
STOP_WITHIN = 2.0


def test_sigterm_stops_local_mode_within_two_seconds(tmp_path: Path) -> None:
    run = LocalRun(tmp_path / "local.log")
    try:
        run.wait_until_serving()
        took = run.terminate(timeout=STOP_WITHIN)
        assert took is not None, f"still running {STOP_WITHIN} s after SIGTERM:\n{run.output()}"
    finally:
        run.kill()
    assert run.process.returncode == 0, run.output()
    assert run.output().rstrip().endswith("Stopped."), run.output()
