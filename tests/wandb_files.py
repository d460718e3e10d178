"""W&B's own public API objects for runs our tracker logged offline.

`vgg_sweep.wandb_log` reads what W&B wrote (`run-<id>.wandb`); `PublicRun` turns it into
wandb's own `wandb.apis.public.Run`, the object `wandb.Api().runs()` yields, so that the
`report wandb:...` path is tested on what our tracker really logs.
"""

from __future__ import annotations

import json

from wandb.apis.public import Run

from vgg_sweep.wandb_log import RunLog


class PublicRun(Run):
    """wandb's own API object for a run; only the history scan, a server call, is local."""

    def __init__(self, offline: RunLog, entity: str, project: str, sweep: str | None):
        attrs = {
            "id": offline.run_id, "name": offline.run_id, "displayName": offline.name,
            "state": offline.state, "createdAt": "2026-11-30T00:00:00Z",
            "sweepName": sweep, "group": offline.group,
            # The server stores config as {key: {"value": v}} and both as JSON strings.
            "config": json.dumps({key: {"value": value} for key, value in
                                  offline.config.items()}),
            "summaryMetrics": json.dumps(offline.summary),
        }
        super().__init__(None, entity, project, offline.run_id, attrs=attrs, lazy=False)
        self._offline_history = offline.history

    def scan_history(self, keys=None, page_size=1000, min_step=0, max_step=None,
                     use_cache=True):
        return iter(self._offline_history)
