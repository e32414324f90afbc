"""Shipped datasets: shapes, ranges, labels, captions, determinism and bad-input errors."""

import gzip

import numpy as np
import pytest
import torch

from t2ilib.data import epoch_batches, load_dataset, load_emoji, load_fashion_mnist, load_mnist, resize_images
from t2ilib.data.paths import data_dir


@pytest.mark.parametrize("loader,n_train,n_test", [(load_mnist, 16000, 4000), (load_fashion_mnist, 16000, 4000)])
def test_grayscale_sets_have_expected_shapes_ranges_and_balanced_labels(loader, n_train, n_test):
    for split, n in (("train", n_train), ("test", n_test)):
        ds = loader(split)
        assert ds.images.shape == (n, 1, 28, 28) and ds.images.dtype == torch.uint8
        assert ds.images.max() > 200 and ds.images.min() == 0
        assert torch.bincount(ds.labels, minlength=10).tolist() == [n // 10] * 10
        x, y = ds[0]
        assert x.shape == (1, 28, 28) and -1 <= x.min() and x.max() <= 1 and isinstance(y, int)


def test_captions_match_labels():
    m = load_mnist("test")
    assert all(c == f"a handwritten digit {m.class_names[l]}" for c, l in zip(m.captions[:200], m.labels[:200]))
    f = load_fashion_mnist("test")
    boots = [c for c, l in zip(f.captions, f.labels) if l == 9]
    assert set(boots) == {"a photo of an ankle boot"}


def test_train_and_test_images_are_distinct():
    tr, te = load_mnist("train").images, load_mnist("test").images
    hashes = {bytes(x.numpy()) for x in tr}
    assert sum(bytes(x.numpy()) in hashes for x in te) < 20  # MNIST has a handful of exact duplicates at most


def test_emoji_set():
    e = load_emoji()
    assert e.images.shape == (1911, 3, 64, 64) and len(set(e.captions)) > 1800
    assert all(c.startswith("an emoji of ") for c in e.captions)
    assert "an emoji of a strawberry" in e.captions
    small = load_emoji(16)
    assert small.images.shape == (1911, 3, 16, 16)
    # an antialiased downsample preserves the mean colour
    assert abs(small.images.float().mean() - e.images.float().mean()) < 1.0


def test_shipped_files_load_without_pickle():
    for name in ("mnist", "fashion_mnist", "emoji"):
        with np.load(data_dir() / f"{name}.npz", allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)


def test_loading_is_deterministic():
    a, b = load_dataset("mnist", "train", resolution=16), load_dataset("mnist", "train", resolution=16)
    assert torch.equal(a.images, b.images) and a.images.shape[-1] == 16


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="cifar"), "name: expected one of"),
    (dict(name="mnist", split="valid"), "split: expected one of"),
    (dict(name="mnist", source="internet"), "source: expected one of"),
    (dict(name="emoji", split="test"), "only split='train'"),
    (dict(name="mnist", resolution=2), "resolution: expected an int >= 4"),
])
def test_bad_dataset_arguments_give_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


def test_missing_data_file_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("T2I_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="t2ilib.data.prepare"):
        load_mnist()


def test_resize_rejects_bad_resolution():
    with pytest.raises(ValueError, match="resolution"):
        resize_images(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), 2.5)


def test_epoch_batches_are_a_pure_function_of_the_step():
    x = torch.arange(100)
    b1 = epoch_batches(x, batch_size=32, seed=1)
    b2 = epoch_batches(x, batch_size=32, seed=1)
    assert all(torch.equal(b1(s)[0], b2(s)[0]) for s in [5, 0, 3, 7, 1])
    epoch0 = torch.cat([b1(s)[0] for s in range(3)])
    assert len(set(epoch0.tolist())) == 96  # no repeats within an epoch
    assert not torch.equal(b1(0)[0], b1(3)[0])  # a new permutation each epoch
    assert not torch.equal(b1(0)[0], epoch_batches(x, batch_size=32, seed=2)(0)[0])
    with pytest.raises(ValueError, match="batch_size"):
        epoch_batches(x, batch_size=0)
    with pytest.raises(ValueError, match="differ in length"):
        epoch_batches(x, torch.arange(5), batch_size=2)


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trips(tmp_path):
    from t2ilib.data.datasets import _read_idx

    a = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    _write_idx(tmp_path / "x-idx3-ubyte.gz", a)
    assert np.array_equal(_read_idx(tmp_path / "x-idx3-ubyte.gz"), a)
    with gzip.open(tmp_path / "bad.gz", "wb") as f:
        f.write(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0\0\0\0")  # float32 IDX: not an image file
    with pytest.raises(ValueError, match="not a uint8 IDX file"):
        _read_idx(tmp_path / "bad.gz")


def test_full_sources_read_the_full_files(tmp_path, monkeypatch):
    import t2ilib.data.datasets as D

    monkeypatch.setenv("T2I_CACHE_DIR", str(tmp_path))
    imgs = np.random.default_rng(1).integers(0, 256, (30, 28, 28)).astype(np.uint8)
    labels = np.arange(30) % 10
    np.savez(tmp_path / "mnist_full.npz", train_images=imgs, train_labels=labels, test_images=imgs[:10],
             test_labels=labels[:10])
    ds = load_mnist("train", source="full")
    assert len(ds) == 30 and np.array_equal(ds.images[:, 0].numpy(), imgs)
    fashion_dir = tmp_path / "fashion"
    fashion_dir.mkdir()
    _write_idx(fashion_dir / "t10k-images-idx3-ubyte.gz", imgs[:7])
    _write_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz", labels[:7])
    monkeypatch.setattr(D, "FASHION_DEBIAN_DIR", fashion_dir)
    f = load_fashion_mnist("test", source="full")
    assert len(f) == 7 and f.captions[0] == "a photo of a t-shirt"
