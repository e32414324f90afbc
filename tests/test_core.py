"""Device helper, seeding, and the image <-> tensor conventions."""

import numpy as np
import pytest
import torch

from t2ilib import get_device, seed_everything, to_image_range, to_uint8


def test_device_is_cpu_here_and_rejects_unknown_names():
    assert get_device().type in ("cpu", "cuda", "mps")
    assert get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device: expected one of"):
        get_device("tpu")


def test_seed_everything_reproduces_all_generators():
    seed_everything(3)
    a = (torch.rand(3), np.random.rand(3))
    seed_everything(3)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_image_range_round_trip_is_exact_for_every_uint8_value():
    x = torch.arange(256, dtype=torch.uint8)
    f = to_image_range(x)
    assert f.min() == -1 and f.max() == 1 and f.dtype == torch.float32
    assert torch.equal(to_uint8(f), x)
    assert torch.equal(to_uint8(torch.tensor([-3.0, 7.0])), torch.tensor([0, 255], dtype=torch.uint8))


def test_image_conversions_reject_wrong_dtypes():
    with pytest.raises(TypeError, match="uint8"):
        to_image_range(torch.zeros(3))
    with pytest.raises(TypeError, match="floating-point"):
        to_uint8(torch.zeros(3, dtype=torch.uint8))
