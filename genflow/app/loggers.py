"""Experiment loggers of genflow's own: Lightning's CSV logger, keeping the rows already there."""

from __future__ import annotations

import csv
import os

from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class CSVLogger(LightningCSVLogger):
    """``metrics.csv`` in the run directory. Lightning's writer deletes an existing ``metrics.csv``
    when it starts; a run resumed into its own directory (``hydra.run.dir=<run> resume=<run>``)
    keeps the earlier rows instead: they are read here and written back first, the new rows follow."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)
        self._earlier_rows = None
        if os.path.isfile(path):
            with open(path, newline="") as f:
                self._earlier_rows = list(csv.DictReader(f))

    @property
    def experiment(self):
        writer = super().experiment
        if self._earlier_rows and isinstance(writer, ExperimentWriter):
            rows, self._earlier_rows = self._earlier_rows, None
            writer.metrics[:0] = rows
            writer.save()
        return writer
