"""Guidance: wrappers that turn a model function into a guided one; samplers never know.

Classifier-free (Ho & Salimans 2022), in whatever parameterization the model predicts:
    pred~ = gamma pred(x, y) + (1 - gamma) pred(x, null),
both evaluations in one batched forward pass. Every conversion between eps / score / x0 /
velocity is affine in the prediction, so this is the same guidance in all of them.
Classifier guidance (Dhariwal & Nichol 2021; Song et al. 2021):
    score~(x, t) = score(x, t) + gamma grad_x log p(y | x_t, t),
i.e. eps~ = eps - gamma sigma grad and, by Tweedie, x0~ = x0 + gamma (sigma^2 / alpha) grad.

The ``guidance`` config group builds a :class:`Guidance` (``_target_`` like everything else): ``bind``
checks it against the model (and loads what it needs), ``groups`` are the labels to draw samples for,
and ``wrap(model, label)`` returns the guided model function.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.data.labels import class_index
from genflow.errors import UserError
from genflow.prediction import ModelFunction, Prediction


def batch_labels(labels: Tensor, x: Tensor) -> Tensor:
    """One label per sample of x: a scalar label is broadcast over the batch."""
    labels = torch.as_tensor(labels).to(x.device)
    return labels.expand(x.shape[0]) if labels.dim() == 0 else labels


class ClassifierFreeGuidance(ModelFunction):
    def __init__(self, model: ModelFunction, labels: Tensor, scale: float):
        super().__init__()
        self.model, self.labels, self.scale = model, labels, float(scale)
        self.path, self.kind = model.path, model.kind

    def raw(self, x: Tensor, t: Tensor) -> Tensor:
        y = batch_labels(self.labels, x)
        tt = t.expand(x.shape[0]) if t.dim() == 0 else t
        both = self.model.raw_labelled(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, torch.full_like(y, -1)]))
        cond, uncond = both.chunk(2)
        return self.scale * cond + (1 - self.scale) * uncond


class ClassifierGuidance(ModelFunction):
    """``log_probs(x, t)`` returns log p(y | x_t, t) for every class, shape (B, K)."""

    def __init__(self, model: ModelFunction, log_probs, labels: Tensor, scale: float):
        super().__init__()
        self.model, self.log_probs, self.labels, self.scale = model, log_probs, labels, float(scale)
        self.path, self.kind = model.path, model.kind

    def predict(self, x: Tensor, t: Tensor) -> Prediction:
        pred = self.model.predict(x, t)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logp = self.log_probs(xg, t.expand(x.shape[0]) if t.dim() == 0 else t)
            picked = logp.gather(1, batch_labels(self.labels, x)[:, None]).sum()
            grad = self.scale * torch.autograd.grad(picked, xg)[0]
        c = pred.coefficients
        shift = torch.where(c.alpha > 0, c.sigma**2 / c.alpha.clamp_min(1e-30), torch.zeros_like(c.alpha))
        return Prediction(x, t, self.path, x0=pred.x0 + shift * grad, eps=pred.eps - c.sigma * grad)


def checked_label(value) -> int | str:
    """A class label as the data stores it (an integer) or a class's name (``data=image_folder``: its folder);
    2.5 is refused in one line, not rounded."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UserError(f"guidance.label={value!r} is not a class label: give a class's integer label as the data "
                        "stores it or its name (guidance.label=2, guidance.label=cat, a list guidance.label=[0,1])")
    return value


def named_label(label: int | str, names: list[str] | None) -> int:
    """A class name's label (its index among the data's named classes); an integer label as it is."""
    if not isinstance(label, str):
        return label
    if label not in (names or []):
        raise UserError(f"guidance.label={label!r} is not a class of this model; classes: "
                        f"{', '.join(names) if names else 'none named (give the integer label)'}")
    return names.index(label)


class Guidance:
    """Base of the guidance configs: one group of samples per label (a list draws each in turn)."""

    def __init__(self, scale: float = 1.0, label=0):
        self.scale = float(scale)
        given = label if isinstance(label, (list, tuple)) else (
            list(label) if hasattr(label, "__iter__") and not isinstance(label, str) else [label])
        self.labels = [checked_label(v) for v in given]

    @property
    def name(self) -> str:
        return type(self).__name__

    def bind(self, module) -> None:
        """Check the guidance against the model it will guide; load what it needs."""

    def groups(self) -> list[int]:
        """The labels as the user wrote them (a data file's own values, e.g. {0, 50000}; class names become their
        labels in ``bind``)."""
        return self.labels

    def index_labels(self, values: list[int] | None, num_classes: int, names: list[str] | None = None) -> None:
        """Each user-facing label's class index (0..K-1) in the network's label embedding; class names become
        their labels first."""
        self.labels = [named_label(label, names) for label in self.labels]
        self.index = {label: class_index(label, values, num_classes) for label in self.labels}

    def wrap(self, model: ModelFunction, label: int) -> ModelFunction:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} x{self.scale:g}"

    def figures(self, samples: Tensor, labels: Tensor) -> dict:
        """Pictures beyond the samples' own, by file name (genflow.app.plotting.plot_figures draws them)."""
        return {}


class CFG(Guidance):
    """``guidance=cfg``: classifier-free guidance of a model trained with ``conditional=true``."""

    def bind(self, module) -> None:
        if not module.conditional:
            raise UserError("guidance=cfg needs a conditional model; this checkpoint was trained with "
                            "conditional=false (train with conditional=true)")
        self.index_labels(getattr(module, "label_values", None), module.hparams.num_classes,
                          getattr(module, "class_names", None))

    def wrap(self, model, label):
        return ClassifierFreeGuidance(model, torch.tensor(self.index[label]), self.scale)

    def describe(self) -> str:
        return f"cfg x{self.scale:g}"


class Classifier(Guidance):
    """``guidance=classifier``: the gradient of a noisy classifier (``model=noisy_classifier``) trained on the
    same data and path, loaded from ``classifier_ckpt``."""

    def __init__(self, classifier_ckpt: str, scale: float = 1.0, label=0, trust_targets=()):
        super().__init__(scale, label)
        self.classifier_ckpt, self.classifier = classifier_ckpt, None
        self.trusted = [trust_targets] if isinstance(trust_targets, str) else list(trust_targets or ())

    def bind(self, module) -> None:
        from genflow.modules.classifier import NoisyClassifierModule
        from genflow.modules.loading import load_module

        classifier = load_module(self.classifier_ckpt, key="guidance.classifier_ckpt", device=module.device,
                                 trusted=self.trusted)
        if not isinstance(classifier, NoisyClassifierModule):
            raise UserError("guidance.classifier_ckpt must be a model=noisy_classifier checkpoint")
        if tuple(classifier.hparams.data_shape) != tuple(module.hparams.data_shape):
            raise UserError(f"the classifier takes data of shape {tuple(classifier.hparams.data_shape)}, the model "
                            f"makes {tuple(module.hparams.data_shape)}")
        if not (torch.allclose(classifier.data_shift, module.data_shift)
                and torch.allclose(classifier.data_scale, module.data_scale)):
            raise UserError("the classifier was trained on data with another normalisation than the model")
        self.index_labels(getattr(classifier, "label_values", None), classifier.hparams.num_classes,
                          getattr(module, "class_names", None))
        self.classifier = classifier

    def log_probs(self, x: Tensor, t: Tensor) -> Tensor:
        return torch.log_softmax(self.classifier.classify(x, t), dim=1)

    def wrap(self, model, label):
        return ClassifierGuidance(model, self.log_probs, torch.tensor(self.index[label]), self.scale)

    def describe(self) -> str:
        return f"classifier x{self.scale:g}"
