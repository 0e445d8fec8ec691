"""Class activation maps from one layer's activations A (1, C, gh, gw) and target gradients G (K, C, gh, gw).

Grad-CAM (Selvaraju et al. 2017), HiResCAM (Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful
explanations of convolutional neural networks"), Grad-CAM++ (Chattopadhay et al. 2018), LayerCAM (Jiang et al. 2021)
and EigenCAM (Muhammad & Yeasin 2020). Every map is raw: no final ReLU and no normalisation (render.py and the
comparisons normalise); the ReLUs that are part of a method's own weights stay. Formulas follow pytorch-grad-cam
1.5.7, the reference the tests hold these to.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Grad-CAM++'s denominator guard, as in pytorch-grad-cam's GradCAMPlusPlus.
EPS = 1e-6


def _gradcam(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    weights = grads.mean(dim=(2, 3), keepdim=True)  # alpha_k^c, eq. 1
    return (weights * acts).sum(dim=1)  # eq. 2 without the ReLU: signed


def _hirescam(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    # Element-wise, not averaged: for a global-average-pool + linear head it is CAM (Zhou et al. 2016) / (gh gw).
    return (grads * acts).sum(dim=1)


def _gradcam_plus_plus(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    # Eq. 19 of Chattopadhay et al. (gradients of the raw score standing in for those of exp(score)):
    # alpha = g^2 / (2 g^2 + sum(A) g^3 + eps), which is 0 where the gradient is; the ReLU of eq. 7 keeps only
    # positive gradients in the channel weights.
    g2 = grads * grads
    denominator = (acts.sum(dim=(2, 3), keepdim=True) * grads).add_(2).mul_(g2).add_(EPS)
    alpha = g2.div_(denominator)  # in place: K x C x gh x gw floats, several times over, add up on a large layer
    weights = alpha.mul_(grads.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    return (weights * acts).sum(dim=1)  # no final ReLU: negative where positively weighted channels are negative


def _layercam(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    # Eq. 5-6 of Jiang et al.: a per-position weight ReLU(gradient); no final ReLU (token and NHWC features can be < 0).
    return (grads.clamp(min=0) * acts).sum(dim=1)


def eigencam(acts: torch.Tensor) -> torch.Tensor:
    """(1, C, gh, gw) -> (gh, gw): the centred activations projected on their first principal component.

    It reads no gradient, so it is the same map for every target and direction. The SVD leaves the component's sign
    open; it is fixed so that the larger magnitude is positive (Chung & Ying 2025, "Seg-Eigen-CAM", eq. 13), which
    makes the map a function of the activations alone (pytorch-grad-cam keeps whichever sign LAPACK returns).
    """
    _, c, gh, gw = acts.shape
    rows = acts[0].reshape(c, gh * gw).T.double()  # positions x channels
    rows = rows - rows.mean(dim=0)
    # The first right singular vector v of rows, through the smaller of the two Gram matrices (an SVD of a 49 x 1280
    # matrix costs milliseconds; this, microseconds): rows @ v = sigma u, u the top eigenvector of rows @ rows.T.
    if gh * gw <= c:
        values, vectors = torch.linalg.eigh(rows @ rows.T)
        projection = vectors[:, -1] * values[-1].clamp(min=0).sqrt()
    else:
        projection = rows @ torch.linalg.eigh(rows.T @ rows)[1][:, -1]
    if projection.min().abs() > projection.max().abs():
        projection = -projection
    return projection.reshape(gh, gw).to(acts.dtype)


GRADIENT_CAMS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "gradcam": _gradcam,
    "hirescam": _hirescam,
    "gradcam++": _gradcam_plus_plus,
    "layercam": _layercam,
}
CAM_VARIANTS = (*GRADIENT_CAMS, "eigencam")


def cams(variant: str, acts: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
    """(K, gh, gw) raw maps of one variant for K targets ((1, gh, gw) for EigenCAM, the same for every target);
    ``grads`` may be None for EigenCAM only.
    """
    if variant == "eigencam":
        return eigencam(acts)[None]  # one map: the caller shares it between the targets
    if grads is None:
        raise ValueError(f"{variant} needs the layer's gradients")
    return GRADIENT_CAMS[variant](acts, grads)
