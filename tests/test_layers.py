"""The package's layers: every import of ``adrpo_nb`` (inside functions too) points down or sideways, never up.

Layers, top to bottom (``adrpo_nb/__init__.py`` states the same order)::

    experiments (and the adrpo_nb.bench shim)
    viz
    trainers / integrations          (the front door adrpo_nb/__init__.py sits here: it exports the trainers)
    models                           (no model imports a trainer, no trainer a model: they share adrpo_nb.types)
    rewards / tasks
    metrics / sampling / notebook
    types                            (samples, the adapter protocols, the reward signatures: below models and
                                      trainers, above core, whose math needs none of them)
    core
    utils

Also: no import cycle between modules, and no private name (``_x``) imported from another module or read
off an imported module (``mod._x``). The checker parses source with :mod:`ast`; it imports nothing.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "adrpo_nb"

#: (layer name, module prefixes), bottom first; a module belongs to the layer of its longest matching prefix
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("utils", ("adrpo_nb.utils",)),
    ("core", ("adrpo_nb.core",)),
    ("types", ("adrpo_nb.types",)),
    ("metrics/sampling/notebook", ("adrpo_nb.metrics", "adrpo_nb.sampling", "adrpo_nb.notebook")),
    ("rewards/tasks", ("adrpo_nb.rewards", "adrpo_nb.tasks")),
    ("models", ("adrpo_nb.models",)),
    ("trainers/integrations", ("adrpo_nb.trainers", "adrpo_nb.integrations")),
    ("viz", ("adrpo_nb.viz",)),
    ("experiments", ("adrpo_nb.experiments", "adrpo_nb.bench")),
]
#: the front door (``adrpo_nb/__init__.py``) exports the trainers: it sits in their layer
FRONT_DOOR_LAYER = "trainers/integrations"
#: (importer prefix, imported prefix): layers that never import each other although the order would allow it.
#: Trainers and the TRL integration see a model only through the protocols of ``adrpo_nb.types``.
APART: list[tuple[str, str]] = [("adrpo_nb.trainers", "adrpo_nb.models"), ("adrpo_nb.integrations", "adrpo_nb.models")]


@dataclass(frozen=True)
class Import:
    """One ``adrpo_nb`` import: importing module, imported module, the names taken from it, and where."""

    source: str
    target: str
    names: tuple[str, ...]
    line: int


def module_name(path: Path, root: Path) -> str:
    """``root/adrpo_nb/viz/__init__.py`` → ``adrpo_nb.viz``; ``…/viz/lm.py`` → ``adrpo_nb.viz.lm``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """Index of ``module``'s layer in :data:`LAYERS` (longest prefix wins); a module outside every layer fails."""
    if module == PACKAGE:
        return [name for name, _ in LAYERS].index(FRONT_DOOR_LAYER)
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise ValueError(f"module {module!r} is in no layer: add it to LAYERS in tests/test_layers.py")
    return best


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module of ``from … import``, ``from . import`` and ``from ..x import`` included."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def parse_imports(root: Path, package: str = PACKAGE) -> tuple[list[Import], list[str], set[str]]:
    """Every ``adrpo_nb`` import under ``root/package`` (all nesting levels), private attribute reads, modules.

    ``from pkg import sub`` where ``sub`` is a module counts as importing ``pkg.sub``. Returns
    ``(imports, private_attribute_reads, modules)``; each private read is ``"module:line: alias._name"``.
    """
    files = sorted((root / package).rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    imports: list[Import] = []
    private_reads: list[str] = []
    for path in files:
        source = module_name(path, root)
        tree = ast.parse(path.read_text(), filename=str(path))
        aliases: dict[str, str] = {}  # local name → imported adrpo_nb module
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == package:
                        imports.append(Import(source, alias.name, (), node.lineno))
                        if alias.asname:
                            aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(source, path.name == "__init__.py", node)
                if target.split(".")[0] != package:
                    continue
                plain = []
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:
                        imports.append(Import(source, sub, (), node.lineno))
                        aliases[alias.asname or alias.name] = sub
                    else:
                        plain.append(alias.name)
                if plain or not node.names:
                    imports.append(Import(source, target, tuple(plain), node.lineno))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and _is_private(node.attr)):  # fmt: skip
                private_reads.append(f"{source}:{node.lineno}: {node.value.id}.{node.attr}")
    return imports, private_reads, modules


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def layer_violations(imports: list[Import]) -> list[str]:
    """Imports that point to a higher layer, as ``"source:line imports target (layer a → higher layer b)"``."""
    out = []
    for imp in imports:
        src, dst = layer_of(imp.source), layer_of(imp.target)
        if dst > src:
            layers = f"{LAYERS[src][0]} → higher layer {LAYERS[dst][0]}"
            out.append(f"{imp.source}:{imp.line} imports {imp.target} ({layers})")
    return out


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def apart_violations(imports: list[Import]) -> list[str]:
    """Imports between layers kept apart (:data:`APART`), as ``"source:line imports target"``."""
    return [f"{imp.source}:{imp.line} imports {imp.target}" for imp in imports
            for a, b in APART if _under(imp.source, a) and _under(imp.target, b)]  # fmt: skip


def private_imports(imports: list[Import]) -> list[str]:
    """``from other_module import _name`` (dunder names such as ``__all__`` are public)."""
    return [f"{imp.source}:{imp.line} imports {name} from {imp.target}"
            for imp in imports for name in imp.names if _is_private(name) and imp.target != imp.source]  # fmt: skip


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself), sorted."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.source, set()).add(imp.target)
        graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
            if len(component) > 1 or v in graph[v]:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


# ----------------------------------------------------------------------------- the real package
@pytest.fixture(scope="module")
def package_imports():
    return parse_imports(ROOT)


def test_every_module_has_a_layer(package_imports):
    _, _, modules = package_imports
    for module in modules:
        layer_of(module)  # raises for a module outside every layer
    assert "adrpo_nb.models.sd3" in modules and "adrpo_nb.experiments.qwen.run" in modules


def test_the_package_imports_only_downwards(package_imports):
    imports, _, _ = package_imports
    assert len(imports) > 100, "the parser found too few imports to be reading the package"
    assert layer_violations(imports) == []


def test_no_trainer_imports_a_model(package_imports):
    assert apart_violations(package_imports[0]) == []


def test_the_package_has_no_import_cycle(package_imports):
    assert import_cycles(package_imports[0]) == []


def test_no_private_name_crosses_a_module(package_imports):
    imports, private_reads, _ = package_imports
    assert private_imports(imports) == []
    assert private_reads == []


def test_the_front_door_states_the_same_layers():
    doc = ast.get_docstring(ast.parse((ROOT / PACKAGE / "__init__.py").read_text()))
    order = ["experiments", "viz", "trainers", "models", "rewards", "metrics", "types", "core", "utils"]
    positions = [doc.index(f"``{w}``") for w in order]
    assert positions == sorted(positions), "adrpo_nb/__init__.py's docstring lists the layers in another order"


# ----------------------------------------------------------------------------- the checker, on synthetic trees
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for package in {p.parent for p in tmp_path.rglob("*.py")}:
        (package / "__init__.py").touch()
    return tmp_path


def test_checker_catches_an_upward_import_inside_a_function(tmp_path):
    root = _tree(tmp_path, {
        "adrpo_nb/experiments/runner.py": "X = 1\n",
        "adrpo_nb/models/sd3.py": """
            import torch

            def load():
                if True:
                    from adrpo_nb.experiments import runner
                return runner.X
            """,
    })  # fmt: skip
    imports, _, _ = parse_imports(root)
    found = layer_violations(imports)
    assert len(found) == 1 and "adrpo_nb.models.sd3:6 imports adrpo_nb.experiments.runner" in found[0]
    assert "models → higher layer experiments" in found[0]


def test_checker_resolves_relative_imports_and_allows_sideways_and_down(tmp_path):
    root = _tree(tmp_path, {
        "adrpo_nb/core.py": "",
        "adrpo_nb/rewards/text.py": "from ..tasks import countdown\nfrom .. import core\n",
        "adrpo_nb/tasks/countdown.py": "",
        "adrpo_nb/models/mnist.py": "from ..types import FlowSamples\n",
        "adrpo_nb/types.py": "",
        "adrpo_nb/trainers/grpo.py": "from adrpo_nb.models import mnist\n",
        "adrpo_nb/models/lm.py": "from ..trainers import grpo\n",
        "adrpo_nb/viz/lm.py": "from . import common\n",
        "adrpo_nb/viz/common.py": "",
    })  # fmt: skip
    imports, _, _ = parse_imports(root)
    targets = {(i.source, i.target) for i in imports}
    assert ("adrpo_nb.rewards.text", "adrpo_nb.tasks.countdown") in targets
    assert ("adrpo_nb.rewards.text", "adrpo_nb.core") in targets
    assert ("adrpo_nb.viz.lm", "adrpo_nb.viz.common") in targets
    # types is below models; a trainer may import a model as far as the layers go (sideways is not up),
    # test_no_trainer_imports_a_model forbids it; a model importing a trainer points up
    assert layer_violations(imports) == [
        "adrpo_nb.models.lm:1 imports adrpo_nb.trainers.grpo (models → higher layer trainers/integrations)"
    ]


def test_checker_keeps_trainers_and_models_apart(tmp_path):
    root = _tree(tmp_path, {
        "adrpo_nb/models/causal_lm.py": "",
        "adrpo_nb/trainers/grpo.py": "def f():\n    from adrpo_nb.models.causal_lm import CausalLMAdapter\n",
        "adrpo_nb/integrations/trl.py": "from ..models import causal_lm\n",
        "adrpo_nb/trainers/base.py": "from adrpo_nb.types import Rollout\n",
        "adrpo_nb/types.py": "",
    })  # fmt: skip
    imports, _, _ = parse_imports(root)
    assert layer_violations(imports) == []
    assert apart_violations(imports) == ["adrpo_nb.integrations.trl:1 imports adrpo_nb.models.causal_lm",
                                         "adrpo_nb.trainers.grpo:2 imports adrpo_nb.models.causal_lm"]  # fmt: skip


def test_checker_finds_cycles_through_function_imports(tmp_path):
    root = _tree(tmp_path, {
        "adrpo_nb/tasks/a.py": "from adrpo_nb.tasks.b import f\n",
        "adrpo_nb/tasks/b.py": "def f():\n    from adrpo_nb.tasks import c\n",
        "adrpo_nb/tasks/c.py": "import adrpo_nb.tasks.a\n",
        "adrpo_nb/tasks/d.py": "from adrpo_nb.tasks.a import x\n",
    })  # fmt: skip
    imports, _, _ = parse_imports(root)
    assert import_cycles(imports) == [["adrpo_nb.tasks.a", "adrpo_nb.tasks.b", "adrpo_nb.tasks.c"]]


def test_checker_finds_private_names_imported_or_read(tmp_path):
    root = _tree(tmp_path, {
        "adrpo_nb/utils/paths.py": "_SECRET = 1\n__all__ = []\n",
        "adrpo_nb/core.py": "from adrpo_nb.utils.paths import _SECRET, __all__\n",
        "adrpo_nb/metrics.py": "from adrpo_nb.utils import paths as p\nY = p._SECRET + p.__name__.count('x')\n",
    })  # fmt: skip
    imports, private_reads, _ = parse_imports(root)
    assert private_imports(imports) == ["adrpo_nb.core:1 imports _SECRET from adrpo_nb.utils.paths"]
    assert private_reads == ["adrpo_nb.metrics:2: p._SECRET"]


def test_a_module_outside_every_layer_is_an_error():
    for module in ("adrpo_nb_extra.x", "adrpo_nb.new_module"):
        with pytest.raises(ValueError, match=module):
            layer_of(module)
    assert LAYERS[layer_of("adrpo_nb.types")][0] == "types"
    assert LAYERS[layer_of("adrpo_nb.trainers.base")][0] == "trainers/integrations"
