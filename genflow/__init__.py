"""genflow: diffusion, score-based, flow-matching and CNF models behind one CLI."""

__version__ = "0.1.0"
