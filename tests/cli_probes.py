"""Objects that ``genflow train`` builds from the command line in tests (``+callbacks.probe._target_=
cli_probes.FileProbe``); the tests put this folder on the subprocess's PYTHONPATH."""

import json
from pathlib import Path

import lightning as L


class FileProbe(L.Callback):
    """Writes ``{"batches": n, "trainer_callbacks": [...]}`` to ``path`` when training ends."""

    def __init__(self, path: str):
        self.path, self.batches = Path(path), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.batches += 1

    def on_train_end(self, trainer, pl_module):
        names = [type(cb).__name__ for cb in trainer.callbacks]
        self.path.write_text(json.dumps({"batches": self.batches, "trainer_callbacks": names}))
