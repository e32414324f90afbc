"""Checkpoints: safetensors tensors + a JSON manifest, written atomically. Never pickle.

A checkpoint ``NAME.safetensors`` has a sibling manifest ``NAME.json`` recording what produced it (recipe and
config, steps, seed, wall time, device, git commit) and what it achieved (metrics), plus the SHA-256 of the
tensor file, so a manifest can never silently describe other weights.

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over the target
(``os.replace`` is atomic), tensors first and manifest last: an interrupted save leaves the previous checkpoint
intact.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from t2ilib.model_spec import Describable, build_model, model_spec

MANIFEST_VERSION = 2  # 2: the manifest's "model" spec rebuilds the model (t2ilib.model_spec)


def manifest_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], manifest: dict | None = None) -> Path:
    """Write ``tensors`` to ``path`` (must end in ``.safetensors``) and ``manifest`` next to it, atomically."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"path: expected a file name ending in .safetensors, got {str(path)!r}")
    bad = [k for k, v in tensors.items() if not torch.is_tensor(v)]
    if bad:
        raise TypeError(f"tensors: every value must be a torch.Tensor; not tensors: {bad[:5]}")
    # contiguous, CPU, unshared copies: safetensors refuses tensors that share memory
    data = safetensors_bytes({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()})
    atomic_write_bytes(path, data)
    digest = hashlib.sha256(data).hexdigest()
    full = {"format_version": MANIFEST_VERSION, "sha256": digest, **(manifest or {})}
    atomic_write_bytes(manifest_path(path), (json.dumps(full, indent=2, sort_keys=True) + "\n").encode())
    return path


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                    verify: bool = True) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`; returns ``(tensors, manifest)``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path} (train it with `python -m t2ilib train RECIPE` "
                                f"or `make checkpoints`)")
    mpath = manifest_path(path)
    if not mpath.exists():
        raise FileNotFoundError(f"checkpoint manifest not found: {mpath} (every .safetensors file has a .json "
                                f"manifest beside it)")
    manifest = json.loads(mpath.read_text())
    if verify and manifest.get("sha256") not in (None, _sha256(path)):
        raise ValueError(f"{path}: its SHA-256 does not match the manifest {mpath.name}: the weights were changed "
                         f"or the save was interrupted; re-train or restore both files together")
    return load_file(str(path), device=str(device)), manifest


def run_info(device: torch.device | str | None = None) -> dict:
    """Provenance fields every manifest records (with the CPU's model and instruction sets on a CPU)."""
    from t2ilib.precision import cpu_description

    on_cpu = device is not None and torch.device(device).type == "cpu"
    return {"git_commit": git_commit(), "device": str(device) if device is not None else None,
            **({"cpu": cpu_description()} if on_cpu else {}),
            "torch": torch.__version__, "python": platform.python_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _dtype_name(dtype) -> str:
    names = {v: k for k, v in STORAGE_DTYPES.items()}
    if isinstance(dtype, str) and dtype in STORAGE_DTYPES:
        return dtype
    if dtype not in names:
        raise ValueError(f"storage_dtype: expected one of {sorted(STORAGE_DTYPES)} (or the torch dtype), got {dtype!r}")
    return names[dtype]


def cast_floats(tensors: dict[str, torch.Tensor], dtype) -> dict[str, torch.Tensor]:
    """Floating-point tensors cast to ``dtype`` (integer buffers untouched). Refuses values ``dtype`` cannot hold
    (float16 overflows past 65504), so a rounded checkpoint is never silently broken."""
    dtype = STORAGE_DTYPES[_dtype_name(dtype)]
    out = {}
    for k, v in tensors.items():
        if v.is_floating_point() and v.dtype != dtype:
            c = v.detach().to(dtype)
            if not torch.isfinite(c).all() and torch.isfinite(v).all():
                raise ValueError(f"storage_dtype: {k} has values outside the {dtype} range "
                                 f"(max |x| = {v.abs().max().item():.3g}); store it as float32")
            v = c
        out[k] = v
    return out


@torch.no_grad()
def round_weights(model: torch.nn.Module, dtype) -> torch.nn.Module:
    """Round every floating-point parameter and buffer of ``model`` to ``dtype`` and back, in place: the model then
    computes exactly what it will compute after a save with ``storage_dtype=dtype`` and a load."""
    rounded = cast_floats(model.state_dict(), dtype)
    for k, v in model.state_dict().items():
        v.copy_(rounded[k])
    return model


def save_model(path: str | Path, model: torch.nn.Module, manifest: dict | None = None,
               storage_dtype=torch.float32) -> Path:
    """Save a model's ``state_dict`` (weights and buffers) with a manifest that records its provenance and, for a
    describable model, the spec that rebuilds it (so :func:`load_model_file` needs nothing but the two files).

    ``storage_dtype=torch.float16`` halves the file: the weights are stored rounded (10-bit mantissa, relative error
    < 0.05 %) and :func:`load_model` casts them back to the model's dtype. Measure a model after
    :func:`round_weights` if its metrics are to describe the stored file exactly."""
    state = model.state_dict()
    device = next(iter(state.values())).device if state else None
    name = _dtype_name(storage_dtype)
    spec = {"model": model_spec(model)} if isinstance(model, Describable) else {}
    return save_checkpoint(path, cast_floats(dict(state), name),
                           {"kind": "model", **run_info(device), **(manifest or {}), **spec, "stored_dtype": name})


def load_model(path: str | Path, model: torch.nn.Module, device: torch.device | str | None = None) -> dict:
    """Load weights saved by :func:`save_model` into ``model`` (strictly); returns the manifest."""
    device = device or next(model.parameters()).device
    tensors, manifest = load_checkpoint(path, device)
    load_state_strict(model, tensors, f"{path}")
    return manifest


def load_state_strict(model: torch.nn.Module, tensors: dict[str, torch.Tensor], what: str) -> None:
    """``load_state_dict`` with one readable error listing missing/unexpected keys and shape mismatches."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [f"{k}: checkpoint {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise ValueError(f"{what} does not fit this model: missing keys {missing[:5]}, unexpected keys "
                         f"{unexpected[:5]}, shape mismatches {shapes[:5]} (was it saved from another architecture "
                         f"or config?)")
    model.load_state_dict(tensors, strict=True)


def load_model_file(path: str | Path, device: torch.device | str | None = None) -> torch.nn.Module:
    """The model a checkpoint holds, rebuilt from its manifest's spec alone and loaded, in eval mode.

    Needs only ``NAME.safetensors`` and its ``NAME.json`` (copy the two anywhere). A manifest older than format 2
    has no spec: the error says how to migrate it."""
    from t2ilib.device import get_device

    path = Path(path)
    device = torch.device(device) if device else get_device()
    tensors, manifest = load_checkpoint(path, device)
    if "model" not in manifest:
        raise ValueError(f"{path}: its manifest (format {manifest.get('format_version', 1)}) does not describe the "
                         f"model it holds (no 'model' spec, added in format {MANIFEST_VERSION}). For a checkpoint a "
                         f"recipe trained: `python -m t2ilib migrate {path.stem}` (or retrain it with "
                         f"`python -m t2ilib train {path.stem}`)")
    model = build_model(manifest["model"]).to(device)
    load_state_strict(model, tensors, f"{path}")
    if hasattr(model, "check_vocabulary"):
        model.check_vocabulary()
    return model.eval()


def pretrained_path(name: str) -> Path:
    """``data/checkpoints/NAME.safetensors``, checked to exist (the error lists the shipped names)."""
    from t2ilib.data.paths import checkpoint_dir

    path = checkpoint_dir() / f"{name}.safetensors"
    if not path.exists():
        shipped = sorted(p.stem for p in checkpoint_dir().glob("*.safetensors"))
        raise ValueError(f"name: expected one of the checkpoints in {checkpoint_dir()} {shipped}, got {name!r}")
    return path


def load_pretrained(name: str, device: torch.device | str | None = None) -> torch.nn.Module:
    """The shipped checkpoint ``data/checkpoints/NAME.safetensors``, rebuilt from its manifest, in eval mode."""
    return load_model_file(pretrained_path(name), device)


@functools.lru_cache(maxsize=8)
def frozen_pretrained(name: str) -> torch.nn.Module:
    """The shipped checkpoint ``name`` on the CPU, in eval mode and without gradients, loaded once per process: a
    part another model names but does not contain (mini DALL-E's image tokenizer, unCLIP's CLIP)."""
    return load_pretrained(name, "cpu").eval().requires_grad_(False)


def pretrained_manifest(name: str) -> dict:
    """The manifest of shipped checkpoint ``name``: how it was made (recipe config, steps, time, machine) and what
    it measured."""
    return json.loads(manifest_path(pretrained_path(name)).read_text())
