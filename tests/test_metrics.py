"""Frechet distance against scipy's matrix square root and torchmetrics' FID; judge-based metrics; captions."""

import numpy as np
import pytest
import torch
from scipy import linalg

from t2ilib.data.digit_captions import DIGIT_WORDS, TEMPLATES, digit_caption, parse_digit_caption
from t2ilib.eval.judges import ImageClassifier
from t2ilib.eval.metrics import (class_fidelity, feature_statistics, frechet_distance, judge_features, judge_fid,
                            judge_statistics, psnr)


def _scipy_fid(mu1, s1, mu2, s2):  # the reference formula of pytorch-fid / TTUR
    covmean = linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def test_frechet_distance_matches_scipy():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 16, generator=g) @ torch.randn(16, 16, generator=g)
    b = torch.randn(400, 16, generator=g) @ torch.randn(16, 16, generator=g) + 0.5
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    ours = frechet_distance(mu1, s1, mu2, s2)
    ref = _scipy_fid(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    assert ours == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_gaussians_analytic():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    d = frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([3.0]), torch.tensor([[9.0]]))
    assert d == pytest.approx(4.0 + 1.0)
    with pytest.raises(ValueError, match="statistics"):
        frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3))


def test_judge_fid_matches_torchmetrics():
    from torchmetrics.image.fid import FrechetInceptionDistance

    torch.manual_seed(0)
    judge = ImageClassifier(width=8).eval()
    a, b = torch.rand(300, 1, 28, 28) * 2 - 1, (torch.rand(300, 1, 28, 28) * 2 - 1) * 0.5

    class Features(torch.nn.Module):  # torchmetrics feeds [0, 1] images when normalize=True
        def forward(self, x):
            return judge.features(x * 2 - 1).double()

    fid = FrechetInceptionDistance(feature=Features(), input_img_size=(1, 28, 28), normalize=True)
    fid.update((a + 1) / 2, real=True)
    fid.update((b + 1) / 2, real=False)
    assert judge_fid(judge, b, a) == pytest.approx(float(fid.compute()), rel=1e-4)
    assert judge_fid(judge, b, judge_statistics(judge, a)) == judge_fid(judge, b, a)  # reference computed once
    assert judge_features(judge, a).shape == (300, 32)


def test_class_fidelity():
    judge = ImageClassifier(width=8).eval()
    x = torch.rand(20, 1, 28, 28) * 2 - 1
    pred = judge.predict(x).argmax(1)
    assert class_fidelity(judge, x, pred) == 1.0
    assert class_fidelity(judge, x, (pred + 1) % 10) == 0.0
    with pytest.raises(ValueError, match="requested"):
        class_fidelity(judge, x, pred[:5])


def test_digit_captions_round_trip_and_errors():
    for d in range(10):
        for t in range(len(TEMPLATES)):
            assert parse_digit_caption(digit_caption(d, t)) == d
    assert parse_digit_caption("A Handwritten Digit THREE") == 3
    assert DIGIT_WORDS[7] == "seven"
    with pytest.raises(ValueError, match="no digit"):
        parse_digit_caption("a letter A")
    with pytest.raises(ValueError, match="several digits"):
        parse_digit_caption("a three or a five")
    with pytest.raises(ValueError, match="label"):
        digit_caption(10)


def test_psnr_known_value_and_shape_check():
    a = torch.zeros(2, 3, 4, 4)
    assert psnr(a + 0.2, a) == pytest.approx(20.0)  # MSE 0.04 -> 10 log10(4 / 0.04) = 20 dB
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, a[:1])
