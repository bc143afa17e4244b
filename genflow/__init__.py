"""genflow: diffusion, score-based, flow-matching and CNF models behind one CLI.

``genflow.load(run_or_ckpt)`` returns a trained model whose ``.sample(n, sampler=..., ...)`` draws samples
as ``genflow sample`` does (``genflow.app.api``)."""

__version__ = "0.1.0"


def load(run_or_ckpt, device="auto", trust_targets=()):
    """A trained model from a run directory or checkpoint file (``genflow.app.api.load``); imported on
    first use, so ``import genflow`` stays light and the core never imports the app."""
    from genflow.app.api import load as load_model

    return load_model(run_or_ckpt, device=device, trust_targets=trust_targets)
