"""Lightning's notices that say nothing to a genflow user, silenced once per process:

- the advert for litlogger printed with every Trainer;
- "ModelCheckpoint with manual optimization ... AFTER optimization": fast_step=true is manual
  optimisation and its checkpoints are meant to hold the state after the optimizer step, the state
  the saved global_step counts;
- "Experiment logs directory ... exists and is not empty": the CSV logger writes metrics.csv into
  the run directory, which already holds config.yaml (only metrics.csv is replaced);
- torch's deprecation of ``LeafSpec``, raised inside Lightning's own pytree helper.
"""

from __future__ import annotations

import logging
import warnings

_WARNINGS = ("Using ModelCheckpoint with manual optimization", "Experiment logs directory .* exists and is not empty",
             r"`isinstance\(treespec, LeafSpec\)` is deprecated")


def _not_an_advert(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip")


def silence_lightning_notices() -> None:
    for message in _WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _not_an_advert not in logger.filters:
        logger.addFilter(_not_an_advert)
