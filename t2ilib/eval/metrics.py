"""Measuring generated images with the course's own judges (no pretrained Inception network exists offline).

* :func:`frechet_distance` -- the Frechet distance between two Gaussians fitted to features (Heusel et al. 2017,
  "GANs Trained by a Two Time-Scale Update Rule ...", Eq. 6 / Sec. 3):
      d^2 = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}).
  With Inception features this is FID; here the features are those of a domain judge (e.g. the digit classifier's
  penultimate layer), so the numbers are comparable within this course, not with published FIDs.
* :func:`judge_fid` -- that distance between generated and real images, on a judge's features (the real images'
  :func:`judge_statistics` can be computed once and passed instead of the images).
* :func:`class_fidelity` -- the fraction of class-conditional samples that the judge reads as the requested class.
* :func:`within_class_spread` -- diversity: the mean distance between two samples of the same class, in judge
  features (divide by the same number for real images: 1 = as varied as the data, 0 = one image per class).
* :func:`psnr` -- peak signal-to-noise ratio of a reconstruction, 10 log10(peak^2 / MSE), for images in [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from t2ilib.images import to_image_range
from t2ilib.train import evaluating


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of (N, D) features, in float64."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features: expected shape (N >= 2, D), got {tuple(features.shape)}")
    f = features.detach().double().cpu()
    return f.mean(0), torch.cov(f.T)


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(0.5 * (m + m.T))
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) (Heusel et al. 2017, Eq. 6).

    Tr((S1 S2)^(1/2)) is computed as the sum of the square roots of the eigenvalues of S1^(1/2) S2 S1^(1/2), a
    symmetric PSD matrix with the same spectrum as S1 S2 -- stable where a general matrix square root is not.
    """
    mu1, mu2, sigma1, sigma2 = (t.detach().double().cpu() for t in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"statistics: expected means (D,) and covariances (D, D) of one D, got {tuple(mu1.shape)}, "
                         f"{tuple(mu2.shape)}, {tuple(sigma1.shape)}, {tuple(sigma2.shape)}")
    root1 = _sqrt_psd(sigma1)
    cross = torch.linalg.eigvalsh(root1 @ sigma2 @ root1).clamp_min(0).sqrt().sum()
    return float(((mu1 - mu2) ** 2).sum() + sigma1.trace() + sigma2.trace() - 2 * cross)


def _as_model_range(images: torch.Tensor) -> torch.Tensor:
    return to_image_range(images) if images.dtype == torch.uint8 else images


@torch.no_grad()
def judge_features(judge: torch.nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The judge's penultimate features for images in [-1, 1] (uint8 images are converted)."""
    images = _as_model_range(images)
    dev = next(judge.parameters()).device
    with evaluating(judge):
        return torch.cat([judge.features(images[i:i + batch_size].to(dev)).float().cpu()
                          for i in range(0, len(images), batch_size)])


def judge_statistics(judge: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of the judge's features of ``images``: compute a reference set's once, reuse it."""
    return feature_statistics(judge_features(judge, images))


def judge_fid(judge: torch.nn.Module, generated: torch.Tensor,
              reference: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> float:
    """Frechet distance between generated and reference images on the judge's features (lower is better).
    ``reference``: real images, or their :func:`judge_statistics`."""
    ref = reference if isinstance(reference, tuple) else judge_statistics(judge, reference)
    return frechet_distance(*judge_statistics(judge, generated), *ref)


def class_fidelity(judge: torch.nn.Module, images: torch.Tensor, requested: torch.Tensor) -> float:
    """Fraction of images the judge classifies as the class they were generated for."""
    if len(images) != len(requested):
        raise ValueError(f"requested: expected one label per image ({len(images)}), got {len(requested)}")
    images = _as_model_range(images)
    return float((judge.predict(images).argmax(-1).cpu() == requested.cpu()).float().mean())


def within_class_spread(features: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes of the mean pairwise Euclidean distance between features of that class."""
    if len(features) != len(labels):
        raise ValueError(f"labels: expected {len(features)} labels, got {len(labels)}")
    spreads = []
    for c in labels.unique():
        f = features[labels == c].double()
        if len(f) < 2:
            continue
        d = torch.cdist(f, f)
        spreads.append(d.sum() / (len(f) * (len(f) - 1)))
    if not spreads:
        raise ValueError("labels: every class has fewer than 2 samples; cannot measure a spread")
    return float(torch.stack(spreads).mean())


def psnr(reconstruction: torch.Tensor, target: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [-1, 1]: 10 log10(2^2 / MSE) (the peak-to-peak range is 2)."""
    if reconstruction.shape != target.shape:
        raise ValueError(f"reconstruction and target: expected the same shape, got {tuple(reconstruction.shape)} "
                         f"and {tuple(target.shape)}")
    mse = F.mse_loss(reconstruction.float(), target.float()).item()
    return 10 * math.log10(4.0 / max(mse, 1e-12))
