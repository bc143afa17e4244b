"""Conditioning by Doob's h-transform, as model-function wrappers that every sampler drives:
score~(x, t) = score(x, t) + grad_x log h(x, t),  h(x, t) = p(event about x_0 | x_t = x).

htransform   the wrapper, and h for a Gaussian observation y = x0[I] + noise (reconstruction guidance)
inpainting   x0[K] = y: exact on the known coordinates, replacement or reconstruction guidance on the others
bridges      paths conditioned to end at a point (exact) or in a Gaussian ball; trajectory recording
masks        built-in inpainting masks, masks and images from .npy / .png files
configs      ``guidance=inpaint`` and ``guidance=bridge``
"""

from genflow.conditioning.configs import Bridge, Inpaint

__all__ = ["Bridge", "Inpaint"]
