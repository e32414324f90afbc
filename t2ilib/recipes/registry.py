"""Recipes: how every shipped checkpoint in ``data/checkpoints/`` is (re)trained, and the metric it must meet.

``python -m t2ilib train NAME`` (or ``make checkpoints`` for all) runs a recipe; it writes
``data/checkpoints/NAME.safetensors`` + ``NAME.json`` with the recipe's config and its measured metric. Weights are
stored as float16 (half the bytes; the course ships them in git) and measured after that rounding.
``python -m t2ilib verify`` re-measures each shipped checkpoint and checks that the recorded metric still holds.

Sampling-based metrics are expensive on a CPU (the shapes models' fidelity: 800 guided images, minutes). Such a
recipe also defines ``quick``: cheaper evaluation arguments (fewer samples, maybe fewer sampler steps; same seeds)
whose result is recorded in the manifest as ``metrics_quick``, measured on the same shipped weights.
``verify(name, quick=True)`` (``python -m t2ilib verify --quick``, and the test suite) re-measures that, with the
recipe's ``quick_tolerance``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from t2ilib.checkpoint import (MANIFEST_VERSION, load_checkpoint, load_pretrained, load_state_strict, round_weights,
                               run_info, save_checkpoint, save_model)
from t2ilib.model_spec import model_spec
from t2ilib.data.paths import checkpoint_dir
from t2ilib.device import get_device, seed_everything
from t2ilib.precision import precision_scope, resolve_precision
from t2ilib.train import TrainConfig, Trainer


@dataclass
class Recipe:
    """How one shipped checkpoint is trained and graded.

    Most recipes use the course's one training loop (:class:`t2ilib.train.Trainer`) and give its three pieces:
    ``config`` (the :class:`~t2ilib.train.TrainConfig` fields), ``loss(model, device)`` (the loss function) and
    ``batches(model, device)`` (``step -> batch``). A recipe with its own loop (the GAN's two players) gives
    ``train(model, device, state_path, max_minutes) -> Trainer`` instead.
    """
    name: str
    description: str
    build: Callable[[], torch.nn.Module]
    evaluate: Callable[[torch.nn.Module, torch.device], dict[str, float]]
    metric: str  # the manifest metric the shipped weights must still reach
    tolerance: float  # absolute
    config: dict | None = None  # TrainConfig fields of the standard loop
    loss: Callable[[torch.nn.Module, torch.device], Callable] | None = None
    batches: Callable[[torch.nn.Module, torch.device], Callable[[int], Any]] | None = None
    train: Callable[[torch.nn.Module, torch.device, Path | None, float | None], Trainer] | None = None
    higher_is_better: bool = True
    build_pretrained: Callable[[], torch.nn.Module] | None = None  # what the checkpoint holds, if not build()
    storage_dtype: str = "float16"  # shipped weights at rest; metrics are measured on exactly these (rounded) weights
    quick: dict | None = None  # evaluate(model, device, **quick): the same metric on fewer samples (see above)
    quick_tolerance: float | None = None  # absolute, for the quick metric (default: tolerance)
    requires: tuple[str, ...] = ()  # shipped checkpoints this recipe reads to train or to grade: trained before it

    def __post_init__(self):
        standard = [piece is not None for piece in (self.config, self.loss, self.batches)]
        if (self.train is not None and any(standard)) or (self.train is None and not all(standard)):
            raise ValueError(f"recipe {self.name}: give either config, loss and batches (the standard training loop) "
                             f"or train (a loop of its own), not both or neither")

    def fit(self, model: torch.nn.Module, device: torch.device, state: Path | None,
            max_minutes: float | None) -> Trainer:
        """Train ``model`` by this recipe (resuming from ``state`` if it exists) and return the finished trainer."""
        if self.train is not None:
            return self.train(model, device, state, max_minutes)
        trainer = Trainer(model, self.loss(model, device), self.batches(model, device),
                          TrainConfig(**self.config, max_minutes=max_minutes), checkpoint_path=state,
                          resume=state is not None)
        trainer.fit()
        return trainer


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    load_all()
    if name not in RECIPES:
        raise ValueError(f"recipe: expected one of {sorted(RECIPES)}, got {name!r}")
    return RECIPES[name]


def load_all() -> dict[str, Recipe]:
    """Import every recipe module of the :mod:`t2ilib.recipes` package (each registers its own recipes) and return
    the registry. The registry names no recipe: a chapter adds a module beside the others, and that is all."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name != "registry":
            importlib.import_module(f"{__package__}.{module.name}")
    return RECIPES


def training_order(names) -> list[str]:
    """``names`` sorted so that every recipe comes after the recipes it ``requires``, directly or through others,
    that are also being trained (alphabetical otherwise): ``train --all`` retrains a tokenizer before the model
    drawing through it, and a judge before the models it grades."""
    names, order, done, visiting = sorted(set(names)), [], set(), set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise ValueError(f"recipe {name}: its requires form a cycle")
        visiting.add(name)
        for needed in sorted(get_recipe(name).requires):
            visit(needed)
        visiting.discard(name)
        done.add(name)
        if name in names:
            order.append(name)
    for name in names:
        visit(name)
    return order


def checkpoint_path(name: str, out_dir: Path | None = None) -> Path:
    return (out_dir or checkpoint_dir()) / f"{name}.safetensors"


def run_recipe(name: str, out_dir: Path | None = None, device: torch.device | str | None = None,
               max_minutes: float | None = None, seed: int = 0) -> Path:
    """Train recipe ``name`` from scratch (resuming its own interrupted run if any) and write its checkpoint."""
    recipe = get_recipe(name)
    device = torch.device(device) if device else get_device()
    seed_everything(seed)
    model = recipe.build().to(device)
    out = checkpoint_path(name, out_dir)
    state = out.with_name(f".{name}.train-state.safetensors")
    t0 = time.perf_counter()
    trainer = recipe.fit(model, device, state, max_minutes)
    final = round_weights(trainer.eval_model, recipe.storage_dtype)  # measure what is shipped, not the fp32 original
    metrics = recipe.evaluate(final, device)
    with precision_scope("fp32"):
        quick = {"metrics_quick": quick_metrics(recipe, final, device)} if recipe.quick else {}
    manifest = {"recipe": name, "description": recipe.description, "config": asdict(trainer.config),
                "steps": trainer.step, "seed": seed, "wall_time_s": round(time.perf_counter() - t0, 1),
                "train_wall_time_s": round(trainer.history.wall_seconds, 1),
                "metrics": metrics, "verify": {"metric": recipe.metric, "tolerance": recipe.tolerance},
                "precision": {"train": trainer.precision, "metric": resolve_precision(None, device)}, **quick,
                **run_info(device)}
    save_model(out, final, manifest, storage_dtype=recipe.storage_dtype)
    for p in (state, state.with_suffix(".json")):
        p.unlink(missing_ok=True)
    return out


def migrate_manifest(name: str, out_dir: Path | None = None) -> Path:
    """Maintainers: bring recipe ``name``'s checkpoint to the current manifest format, weights unchanged.

    Format 1 manifests did not describe their model; the recipe's build function does, so its spec is added. A
    bare UNet denoiser of format 1 becomes a :class:`t2ilib.diffusion.Denoiser` (its tensors gain the ``net.``
    prefix; values identical) that also records its schedule and prediction target."""
    recipe = get_recipe(name)
    path = checkpoint_path(name, out_dir)
    tensors, manifest = load_checkpoint(path, "cpu")
    if manifest.get("format_version", 1) >= MANIFEST_VERSION and "model" in manifest:
        return path
    model = (recipe.build_pretrained or recipe.build)()
    expected = model.state_dict()
    if set(tensors) != set(expected) and {f"net.{k}" for k in tensors} == set(expected):
        tensors = {f"net.{k}": v for k, v in tensors.items()}
    load_state_strict(model, {k: v.to(expected[k].dtype) for k, v in tensors.items()}, f"{path}")
    manifest = {k: v for k, v in manifest.items() if k not in ("format_version", "sha256")}
    manifest["model"] = model_spec(model)
    manifest["migrated"] = f"manifest format 1 -> {MANIFEST_VERSION}: model spec added from the recipe; weights unchanged"
    save_checkpoint(path, tensors, manifest)
    return path


def quick_metrics(recipe: Recipe, model: torch.nn.Module, device) -> dict:
    """The recipe's metrics under its ``quick`` evaluation arguments, with those arguments and the precision."""
    device = torch.device(device)
    return {**recipe.evaluate(model, device, **recipe.quick), "quick": dict(recipe.quick),
            "precision": resolve_precision(None, device)}


def verify(name: str, device: torch.device | str = "cpu", quick: bool = False) -> tuple[float, float, bool]:
    """Re-measure a shipped checkpoint: ``(recorded, measured, ok)``, in the precision the policy picks (the
    manifest's ``precision`` says which one the recorded metric was measured in; the tolerance covers both).
    ``quick``: the cheaper ``metrics_quick`` check for recipes that define one (the full check for the others)."""
    import json

    recipe = get_recipe(name)
    manifest = json.loads(checkpoint_path(name).with_suffix(".json").read_text())
    model, device = load_pretrained(name, device), torch.device(device)
    if quick and recipe.quick:
        if "metrics_quick" not in manifest:
            raise ValueError(f"{name}: the manifest has no metrics_quick; record them with "
                             f"t2ilib.recipes.record_quick_metrics({name!r})")
        recorded, tolerance = manifest["metrics_quick"][recipe.metric], recipe.quick_tolerance or recipe.tolerance
        with precision_scope(manifest["metrics_quick"]["precision"]):  # few samples: compare like with like
            measured = recipe.evaluate(model, device, **recipe.quick)[recipe.metric]
    else:
        recorded, tolerance = manifest["metrics"][recipe.metric], recipe.tolerance
        measured = recipe.evaluate(model, device)[recipe.metric]
    ok = (measured >= recorded - tolerance) if recipe.higher_is_better else (measured <= recorded + tolerance)
    return recorded, measured, ok


def record_quick_metrics(name: str, device: torch.device | str = "cpu") -> dict:
    """Maintainers: measure a shipped checkpoint's quick metrics (in fp32: the precision every machine runs fast
    and the test suite re-measures them in) and add them to its manifest."""
    import json

    from t2ilib.checkpoint import atomic_write_bytes

    recipe = get_recipe(name)
    if not recipe.quick:
        raise ValueError(f"{name}: the recipe defines no quick evaluation")
    path = checkpoint_path(name).with_suffix(".json")
    manifest = json.loads(path.read_text())
    with precision_scope("fp32"):
        manifest["metrics_quick"] = quick_metrics(recipe, load_pretrained(name, device), device)
    atomic_write_bytes(path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest["metrics_quick"]


def remeasure_metrics(name: str, reason: str, device: torch.device | str = "cpu") -> dict:
    """Maintainers: re-measure a shipped checkpoint's ``metrics`` (and ``metrics_quick``) on the same weights after
    the *measurement* changed (e.g. a stricter judge), and record why in the manifest's ``remeasured``. The
    precision of the new measurement replaces ``precision.metric``; ``metrics_float32``, a measurement by the old
    method, is dropped. Training is untouched: ``config``, ``steps`` and the weights' ``sha256`` stay."""
    import json
    from datetime import datetime, timezone

    from t2ilib.checkpoint import atomic_write_bytes

    recipe, device = get_recipe(name), torch.device(device)
    path = checkpoint_path(name).with_suffix(".json")
    manifest = json.loads(path.read_text())
    model = load_pretrained(name, device)
    manifest["metrics"] = recipe.evaluate(model, device)
    manifest["precision"]["metric"] = resolve_precision(None, device)
    manifest.pop("metrics_float32", None)
    if recipe.quick:
        with precision_scope("fp32"):
            manifest["metrics_quick"] = quick_metrics(recipe, model, device)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    manifest["remeasured"] = f"{when}: {reason}"
    atomic_write_bytes(path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest["metrics"]
