"""The library's code flows one way: no module imports a higher layer, and no imports form a cycle.

Layers, bottom to top (a module may import its own layer and the ones below):

0. core -- device, precision, images, EMA, model specs, checkpoints, the training loop, plotting; ``data``; ``nn``
1. one package per chapter idea -- ``gan``, ``vae``, ``diffusion``, ``text`` (and ``clip``, chapter 7a)
2. the capstone systems built from those ideas -- ``dalle``, ``unclip``, ``imagen``, ``latent`` (planned)
3. ``eval`` -- judges and the measurements built on them; ``grading`` -- the checks of the learner's exercises
4. ``recipes`` -- how the shipped checkpoints are trained and graded
5. the command line (``t2ilib.__main__``)

A new package must be given its layer here: the first test fails for a module in no listed package.

Every ``import`` statement counts, also those inside functions (a lazy upward import is still an upward dependency).
``from a.b import c`` depends on ``a.b.c`` when that is a module, else on ``a.b``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "t2ilib"
LAYERS = {  # package or module -> layer; a module takes the layer of its longest listed prefix
    "t2ilib": 0, "t2ilib.data": 0, "t2ilib.nn": 0,
    "t2ilib.gan": 1, "t2ilib.vae": 1, "t2ilib.diffusion": 1, "t2ilib.text": 1, "t2ilib.clip": 1,
    "t2ilib.dalle": 2, "t2ilib.unclip": 2, "t2ilib.imagen": 2, "t2ilib.latent": 2,
    "t2ilib.eval": 3, "t2ilib.grading": 3,
    "t2ilib.recipes": 4,
    "t2ilib.__main__": 5,
}
LAYER_NAMES = ["core", "chapter", "system", "eval", "recipes", "cli"]


def module_name(path: Path) -> str:
    parts = ["t2ilib", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(module: str) -> int:
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    prefixes = [p for p in prefixes if p != "t2ilib"] or (["t2ilib"] if module.count(".") <= 1 else [])
    assert prefixes, f"{module} is in no package listed in LAYERS (tests/test_layers.py): give its package a layer"
    return LAYERS[max(prefixes, key=len)]


def imports_of(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The t2ilib modules ``path`` (module ``name``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t == "t2ilib" or t.startswith("t2ilib.")}
    return out


def import_graph(modules: dict[str, Path] | None = None) -> dict[str, set[str]]:
    modules = modules or all_modules()
    graph = {}
    for name, path in modules.items():
        deps = imports_of(path, name, modules) - {name}
        unknown = {d for d in deps if d not in modules}
        assert not unknown, f"{name} imports modules that do not exist: {sorted(unknown)}"
        graph[name] = deps
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} ({LAYER_NAMES[layer_of(m)]}) imports {d} ({LAYER_NAMES[layer_of(d)]})"
                  for m, deps in graph.items() for d in deps if layer_of(d) > layer_of(m))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer_and_the_graph_is_complete():
    modules = all_modules()
    assert len(modules) > 50
    for name in modules:
        layer_of(name)  # raises if a module is outside every listed package
    graph = import_graph(modules)
    assert graph["t2ilib.__main__"] and graph["t2ilib.recipes.registry"]  # the walker sees imports


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle():
    graph = {"t2ilib.nn.unet": {"t2ilib.eval.metrics"}, "t2ilib.eval.metrics": {"t2ilib.images"},
             "t2ilib.gan.a": {"t2ilib.gan.b"}, "t2ilib.gan.b": {"t2ilib.gan.c"}, "t2ilib.gan.c": {"t2ilib.gan.a"}}
    assert upward_imports(graph) == ["t2ilib.nn.unet (core) imports t2ilib.eval.metrics (eval)"]
    assert cycles(graph) == [["t2ilib.gan.a", "t2ilib.gan.b", "t2ilib.gan.c"]]
    with pytest.raises(AssertionError, match="in no package listed in LAYERS"):
        layer_of("t2ilib.newpackage.module")


@pytest.mark.parametrize("package", ["t2ilib.text", "t2ilib.eval"])
def test_light_packages_import_nothing_themselves(package):
    """``import t2ilib.text.tokenizers`` must not load the UNet: these packages' __init__ files import nothing."""
    path = all_modules()[package]
    assert imports_of(path, package, all_modules()) == set()
