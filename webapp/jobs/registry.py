"""Every kind of job, by the name its records carry (see ``kind`` for what a kind is).

The worker looks a job's kind up here; the web function, which only starts
jobs and shows them, imports each kind's own module for its parameters. A new
kind is a module like ``export`` and one line below.
"""

from __future__ import annotations

from typing import Any

from . import backup, backup_now, export, preview, restore
from .kind import Kind

KINDS: dict[str, Kind[Any]] = {
    kind.name: kind
    for kind in (export.KIND, backup.KIND, backup_now.KIND, preview.KIND, restore.KIND)
}
