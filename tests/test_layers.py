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

Besides the order, trainers and integrations import no model module (:data:`APART`), and no module imports
itself through a cycle. ``importlib.import_module`` / ``__import__`` of an ``adrpo_nb`` module is an import like
any other (an f-string name, ``f"adrpo_nb.experiments.{family}.run"``, imports every module it can name).

No private name (``_x``; dunders are public) of one module is used by another: imported
(``from m import _x``), read through a dotted path off a module or a name imported from one (``m._x``,
``adrpo_nb.m._x``, ``Cls._x``), reached with ``getattr`` / ``setattr`` / ``hasattr`` / ``delattr`` (also
``monkeypatch.setattr``, ``mock.patch.object``), or named in a dotted string (``"adrpo_nb.m._x"``, as
``importlib.import_module``, ``monkeypatch.setattr`` and ``mock.patch`` take it). Attributes of instances are
out of the checker's sight.

Outside the package the same reader checks

* ``tests/*.py``: a test may import from any layer, but it may use the private names only of the modules it
  is named after: ``tests/test_<name>.py`` those whose dotted path has ``<name>`` as a component
  (``test_core.py``: ``adrpo_nb.core``; ``test_audio_lm.py``: ``adrpo_nb.models.audio_lm``). Any other
  private name is reached through the public function that uses it, or made public;
* the chapters' code cells (``book/chapters/*.ipynb``): the public API only, no private name at all, and from
  a module that declares ``__all__`` only the names it lists (or its submodules).

The checker parses source with :mod:`ast`; it imports nothing.
"""

from __future__ import annotations

import ast
import fnmatch
import json
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
    ("metrics/sampling/notebook", ("adrpo_nb.metrics", "adrpo_nb.stats", "adrpo_nb.sampling", "adrpo_nb.notebook")),
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


@dataclass(frozen=True)
class PrivateUse:
    """A private name of ``owner`` (a module, or a module pattern) used in ``source`` at ``line``, as ``what``."""

    source: str
    line: int
    owner: str
    what: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.what} (private to {self.owner})"


@dataclass(frozen=True)
class NameUse:
    """A public name taken from an ``adrpo_nb`` module: ``from module import name`` or ``module.name``."""

    source: str
    line: int
    module: str
    name: str


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
            if _under(module, prefix) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise ValueError(f"module {module!r} is in no layer: add it to LAYERS in tests/test_layers.py")
    return best


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module of ``from … import``, ``from . import`` and ``from ..x import`` included."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


#: calls that import the module named by their first argument
DYNAMIC_IMPORTS = ("import_module", "__import__")
#: calls ``f(obj, "name", …)`` that reach an attribute by its name (``object``: ``mock.patch.object``)
ATTRIBUTE_CALLS = ("getattr", "setattr", "delattr", "hasattr", "object")


def _call_name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


class Scanner:
    """Reads sources one after the other (a notebook's cells share one scanner: they share their names).

    Collects :attr:`imports` (:class:`Import`), :attr:`private` (:class:`PrivateUse`, the source's own names
    included: callers decide whose names a source may use) and :attr:`names` (:class:`NameUse`). Names bound to
    ``adrpo_nb`` objects are tracked per source, without scopes (a name rebound to something else keeps its
    binding: the checker errs on the side of reporting).
    """

    def __init__(self, modules: set[str], package: str = PACKAGE):
        self.modules, self.package = set(modules), package
        self.bindings: dict[str, str] = {}  # local name → dotted path of the adrpo_nb module or object
        self.imports: list[Import] = []
        self.private: list[PrivateUse] = []
        self.names: list[NameUse] = []

    def is_module(self, path: str) -> bool:
        return path in self.modules or ("*" in path and any(fnmatch.fnmatchcase(m, path) for m in self.modules))

    def owner(self, path: str) -> str:
        """The module (or module pattern) a dotted path lies in: its longest prefix that is one."""
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            if self.is_module(".".join(parts[:end])):
                return ".".join(parts[:end])
        return parts[0]

    def dotted_string(self, node: ast.expr) -> str | None:
        """A string (or f-string, its fields as ``*``) naming something under the package, else ``None``."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "*" for v in node.values)
        else:
            return None
        return text if text.split(".")[0] == self.package and not any(c.isspace() for c in text) else None

    def path(self, node: ast.expr) -> str | None:
        """The dotted ``adrpo_nb`` path an expression stands for (``m.x`` with ``m`` a bound name), else ``None``."""
        if isinstance(node, ast.Name):
            return self.bindings.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.path(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and _call_name(node.func) in DYNAMIC_IMPORTS and node.args:
            return self.dotted_string(node.args[0])
        return None

    def _private_in_path(self, source: str, line: int, path: str, what: str) -> None:
        parts = path.split(".")
        for k, part in enumerate(parts):
            if _is_private(part):
                self.private.append(PrivateUse(source, line, self.owner(".".join(parts[:k])), what))
                return

    def scan(self, tree: ast.AST, source: str, is_package: bool = False) -> Scanner:
        start = (len(self.imports), len(self.private), len(self.names))
        self._walk(tree, source, is_package)
        for found, k in zip((self.imports, self.private, self.names), start, strict=True):
            found[k:] = sorted(found[k:], key=lambda x: x.line)  # ast.walk goes breadth first: in line order
        return self

    def _walk(self, tree: ast.AST, source: str, is_package: bool) -> None:
        for node in ast.walk(tree):  # first the bindings: imports and ``m = importlib.import_module(...)``
            if isinstance(node, ast.Import):
                self._import(node, source)
            elif isinstance(node, ast.ImportFrom):
                self._import_from(node, source, is_package)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                target = self.path(node.value)
                for name in node.targets:
                    if target and isinstance(name, ast.Name):
                        self.bindings[name.id] = target
        for node in ast.walk(tree):  # then what is read off them
            if isinstance(node, ast.Call):
                self._call(node, source)
            elif isinstance(node, ast.Attribute):
                self._attribute(node, source)

    def _import(self, node: ast.Import, source: str) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] != self.package:
                continue
            self.imports.append(Import(source, alias.name, (), node.lineno))
            self._private_in_path(source, node.lineno, alias.name, f"import {alias.name}")
            self.bindings[alias.asname or self.package] = alias.name if alias.asname else self.package

    def _import_from(self, node: ast.ImportFrom, source: str, is_package: bool) -> None:
        target = _resolve(source, is_package, node)
        if target.split(".")[0] != self.package:
            return
        self._private_in_path(source, node.lineno, target, f"from {target} import …")
        plain = []
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if sub in self.modules:  # ``from pkg import sub`` imports the module pkg.sub
                self.imports.append(Import(source, sub, (), node.lineno))
            else:
                plain.append(alias.name)
            if alias.name == "*":
                continue
            self.bindings[alias.asname or alias.name] = sub
            if _is_private(alias.name):
                self.private.append(PrivateUse(source, node.lineno, target, f"from {target} import {alias.name}"))
            else:
                self.names.append(NameUse(source, node.lineno, target, alias.name))
        if plain or not node.names:
            self.imports.append(Import(source, target, tuple(plain), node.lineno))

    def _call(self, node: ast.Call, source: str) -> None:
        name = _call_name(node.func)
        first = self.dotted_string(node.args[0]) if node.args else None
        if first:
            self._private_in_path(source, node.lineno, first, f"{name}({first!r})")
        if name in DYNAMIC_IMPORTS and first:
            for module in sorted(self.modules):
                if module == first or ("*" in first and fnmatch.fnmatchcase(module, first)):
                    self.imports.append(Import(source, module, (), node.lineno))
        if name in ATTRIBUTE_CALLS and len(node.args) >= 2:
            attr = node.args[1]
            base = self.path(node.args[0])
            if base and isinstance(attr, ast.Constant) and isinstance(attr.value, str) and _is_private(attr.value):
                what = f"{name}({ast.unparse(node.args[0])}, {attr.value!r})"
                self.private.append(PrivateUse(source, node.lineno, self.owner(base), what))

    def _attribute(self, node: ast.Attribute, source: str) -> None:
        base = self.path(node.value)
        if base is None:
            return
        if _is_private(node.attr):
            if not any(_is_private(part) for part in base.split(".")):  # else reported at its first private part
                self.private.append(PrivateUse(source, node.lineno, self.owner(base), ast.unparse(node)))
        elif self.is_module(base) and not node.attr.startswith("__"):
            self.names.append(NameUse(source, node.lineno, base, node.attr))


def package_modules(root: Path, package: str = PACKAGE) -> set[str]:
    return {module_name(f, root) for f in (root / package).rglob("*.py")}


def scan_source(text: str, source: str, modules: set[str], *, is_package: bool = False) -> Scanner:
    """One source string read as module (or file) ``source``, in a package of ``modules``."""
    return Scanner(modules).scan(ast.parse(textwrap.dedent(text)), source, is_package)


def parse_imports(root: Path, package: str = PACKAGE) -> tuple[list[Import], list[PrivateUse], set[str]]:
    """Every ``adrpo_nb`` import under ``root/package`` (all nesting levels), the private names used across
    modules, and the modules. ``from pkg import sub`` where ``sub`` is a module counts as importing ``pkg.sub``."""
    modules = package_modules(root, package)
    imports: list[Import] = []
    private: list[PrivateUse] = []
    for path in sorted((root / package).rglob("*.py")):
        source = module_name(path, root)
        scan = Scanner(modules, package).scan(ast.parse(path.read_text(), filename=str(path)), source,
                                              path.name == "__init__.py")  # fmt: skip
        imports += scan.imports
        private += [u for u in scan.private if not fnmatch.fnmatchcase(source, u.owner)]
    return imports, private, modules


# ----------------------------------------------------------------------------- tests/ and the chapters
def owned_by_test_file(test_file: str, module: str) -> bool:
    """Whether ``tests/<test_file>`` may use ``module``'s private names: ``test_<name>.py`` owns the modules
    with ``<name>`` as a component of their dotted path (a module pattern never matches)."""
    stem = Path(test_file).stem
    return stem.startswith("test_") and stem[len("test_"):] in module.split(".")[1:]


def private_uses_in_tests(root: Path, modules: set[str]) -> list[str]:
    """Private names of the package that ``root/tests/*.py`` use outside the modules each file is named after."""
    out = []
    for path in sorted((root / "tests").glob("*.py")):
        scan = Scanner(modules).scan(ast.parse(path.read_text(), filename=str(path)), f"tests/{path.name}")
        out += [str(u) for u in scan.private if not owned_by_test_file(path.name, u.owner)]
    return out


def notebook_cells(path: Path) -> list[tuple[int, str]]:
    """``(cell index, code)`` of a notebook's code cells; IPython's ``%`` / ``!`` lines become ``pass``."""
    cells = json.loads(path.read_text())["cells"]
    out = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = [line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
                 for line in source.splitlines()]  # fmt: skip
        out.append((index, "\n".join(lines)))
    return out


def static_all(root: Path, module: str) -> list[str] | None:
    """``module``'s ``__all__`` read from its source (``None`` when it has none): literal lists and tuples of
    strings, ``+``, ``+=`` and ``*other`` where ``other`` is another module's ``__all__`` imported under a name.
    Anything else is an error naming the module (extend the reader rather than skip the module)."""
    base = root.joinpath(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = {alias.asname or alias.name: _resolve(module, path.name == "__init__.py", node)
                for node in tree.body if isinstance(node, ast.ImportFrom)
                for alias in node.names if alias.name == "__all__"}  # fmt: skip

    def value(expr: ast.expr) -> list[str]:
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return value(expr.left) + value(expr.right)
        if not isinstance(expr, (ast.List, ast.Tuple)):
            raise ValueError(f"{module}: __all__ = {ast.unparse(expr)} is not a literal this reader evaluates")
        out = []
        for elt in expr.elts:
            if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                out.append(elt.value)
            elif isinstance(elt, ast.Starred) and isinstance(elt.value, ast.Name) and elt.value.id in imported:
                out += static_all(root, imported[elt.value.id]) or []
            else:
                raise ValueError(f"{module}: __all__ holds {ast.unparse(elt)}, which this reader cannot evaluate")
        return out

    names = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            names = value(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__":
            names = (names or []) + value(node.value)
    return names


def chapter_violations(root: Path, chapter: Path, modules: set[str]) -> tuple[list[str], list[NameUse]]:
    """A chapter's uses of anything but the public API (private names, names a module's ``__all__`` leaves out,
    modules that do not exist), and every name it takes from the package (to check that the reader reads)."""
    scan = Scanner(modules)
    label = chapter.relative_to(root).as_posix()
    for index, code in notebook_cells(chapter):
        scan.scan(ast.parse(code, filename=f"{label} cell {index}"), f"{label} cell {index}")
    out = [str(u) for u in scan.private]
    for use in scan.names:
        where = f"{use.source}:{use.line}: {use.module}.{use.name}"
        if use.module not in modules:
            out.append(f"{where}: no module {use.module}")
        elif f"{use.module}.{use.name}" not in modules:
            public = static_all(root, use.module)
            if public is not None and use.name not in public:
                out.append(f"{where}: not in {use.module}.__all__")
    return out, scan.names


def layer_violations(imports: list[Import]) -> list[str]:
    """Imports that point to a higher layer, as ``"source:line imports target (layer a → higher layer b)"``."""
    out = []
    for imp in imports:
        src, dst = layer_of(imp.source), layer_of(imp.target)
        if dst > src:
            layers = f"{LAYERS[src][0]} → higher layer {LAYERS[dst][0]}"
            out.append(f"{imp.source}:{imp.line} imports {imp.target} ({layers})")
    return out


def apart_violations(imports: list[Import]) -> list[str]:
    """Imports between layers kept apart (:data:`APART`), as ``"source:line imports target"``."""
    return [f"{imp.source}:{imp.line} imports {imp.target}" for imp in imports
            for a, b in APART if _under(imp.source, a) and _under(imp.target, b)]  # fmt: skip


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
    _, private, _ = package_imports
    assert [str(u) for u in private] == []


def test_tests_use_only_their_own_modules_private_names(package_imports):
    assert private_uses_in_tests(ROOT, package_imports[2]) == []


def test_the_chapters_use_only_the_public_api(package_imports):
    chapters = sorted((ROOT / "book" / "chapters").glob("*.ipynb"))
    assert len(chapters) >= 7
    names = []
    for chapter in chapters:
        found, used = chapter_violations(ROOT, chapter, package_imports[2])
        assert found == [], chapter.name
        names += used
    assert len(names) > 100, "the reader found too few names to be reading the chapters' code"
    assert {"BetaSlider", "book_run", "GRPOTrainer"} <= {u.name for u in names}


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
        "adrpo_nb/viz/lm.py": "from . import plots\n",
        "adrpo_nb/viz/plots.py": "",
    })  # fmt: skip
    imports, _, _ = parse_imports(root)
    targets = {(i.source, i.target) for i in imports}
    assert ("adrpo_nb.rewards.text", "adrpo_nb.tasks.countdown") in targets
    assert ("adrpo_nb.rewards.text", "adrpo_nb.core") in targets
    assert ("adrpo_nb.viz.lm", "adrpo_nb.viz.plots") in targets
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
        "adrpo_nb/sampling.py": "_OWN = 1\nfrom adrpo_nb import sampling\nZ = sampling._OWN\n",
    })  # fmt: skip
    _, private, _ = parse_imports(root)
    assert [str(u) for u in private] == [
        "adrpo_nb.core:1: from adrpo_nb.utils.paths import _SECRET (private to adrpo_nb.utils.paths)",
        "adrpo_nb.metrics:2: p._SECRET (private to adrpo_nb.utils.paths)",
    ]  # a module's own private names are its own (sampling)


MODULES = {"adrpo_nb", "adrpo_nb.utils", "adrpo_nb.utils.paths", "adrpo_nb.viz", "adrpo_nb.viz.slider",
           "adrpo_nb.models", "adrpo_nb.models.sd3", "adrpo_nb.experiments", "adrpo_nb.experiments.runner",
           "adrpo_nb.experiments.mnist", "adrpo_nb.experiments.mnist.run", "adrpo_nb.experiments.sd3",
           "adrpo_nb.experiments.sd3.run"}  # fmt: skip


def _private(text: str, source: str = "adrpo_nb.models.sd3") -> list[str]:
    return [f"{u.line}: {u.what} ({u.owner})" for u in scan_source(text, source, MODULES).private]


def test_checker_finds_private_names_read_through_a_dotted_path():
    assert _private("""
        import adrpo_nb.utils.paths
        from adrpo_nb import utils
        from adrpo_nb.viz import BetaSlider
        import adrpo_nb.viz as viz

        a = adrpo_nb.utils.paths._SECRET
        b = utils.paths._SECRET.real
        c = BetaSlider._entry(1)
        d = viz.slider._STATIC_JS
        e = adrpo_nb.utils.paths.__name__ + utils.paths.PUBLIC  # dunders and public names are fine
        f = other._x  # not an adrpo_nb name
        """) == [
        "7: adrpo_nb.utils.paths._SECRET (adrpo_nb.utils.paths)",
        "8: utils.paths._SECRET (adrpo_nb.utils.paths)",
        "9: BetaSlider._entry (adrpo_nb.viz)",
        "10: viz.slider._STATIC_JS (adrpo_nb.viz.slider)",
    ]  # fmt: skip


def test_checker_finds_private_names_reached_by_getattr_setattr_or_a_dotted_string():
    assert _private("""
        from unittest import mock
        from adrpo_nb.utils import paths as p

        def test(monkeypatch):
            getattr(p, "_SECRET")
            hasattr(p, "_SECRET")
            monkeypatch.setattr(p, "_SECRET", 2)
            monkeypatch.setattr("adrpo_nb.utils.paths._SECRET", 3)
            mock.patch.object(p, "_SECRET")
            mock.patch("adrpo_nb.viz.slider._STATIC_CSS")
            getattr(p, "__name__"), getattr(p, "PUBLIC"), getattr(other, "_x"), setattr(p, name, 1)  # fine
        """) == [
        "6: getattr(p, '_SECRET') (adrpo_nb.utils.paths)",
        "7: hasattr(p, '_SECRET') (adrpo_nb.utils.paths)",
        "8: setattr(p, '_SECRET') (adrpo_nb.utils.paths)",
        "9: setattr('adrpo_nb.utils.paths._SECRET') (adrpo_nb.utils.paths)",
        "10: object(p, '_SECRET') (adrpo_nb.utils.paths)",
        "11: patch('adrpo_nb.viz.slider._STATIC_CSS') (adrpo_nb.viz.slider)",
    ]  # fmt: skip


def test_checker_follows_importlib_up_the_layers_and_to_private_names(tmp_path):
    root = _tree(tmp_path, {
        "adrpo_nb/utils/paths.py": "_SECRET = 1\n",
        "adrpo_nb/experiments/runner.py": "",
        "adrpo_nb/experiments/mnist/run.py": "",
        "adrpo_nb/experiments/sd3/run.py": "",
        "adrpo_nb/models/sd3.py": """
            import importlib

            def load(family):
                runner = importlib.import_module("adrpo_nb.experiments.runner")
                run = importlib.import_module(f"adrpo_nb.experiments.{family}.run")
                paths = __import__("adrpo_nb.utils.paths")
                return runner, run._job, importlib.import_module("adrpo_nb.utils.paths")._SECRET
            """,
        "adrpo_nb/models/mnist.py": "from importlib import import_module\nx = import_module('adrpo_nb.viz')\n",
        "adrpo_nb/viz/__init__.py": "",
    })  # fmt: skip
    imports, private, _ = parse_imports(root)
    assert layer_violations(imports) == [
        "adrpo_nb.models.mnist:2 imports adrpo_nb.viz (models → higher layer viz)",
        "adrpo_nb.models.sd3:5 imports adrpo_nb.experiments.runner (models → higher layer experiments)",
        "adrpo_nb.models.sd3:6 imports adrpo_nb.experiments.mnist.run (models → higher layer experiments)",
        "adrpo_nb.models.sd3:6 imports adrpo_nb.experiments.sd3.run (models → higher layer experiments)",
    ]  # fmt: skip
    assert ("adrpo_nb.models.sd3", "adrpo_nb.utils.paths") in {(i.source, i.target) for i in imports}
    assert [str(u) for u in private] == [
        "adrpo_nb.models.sd3:8: run._job (private to adrpo_nb.experiments.*.run)",
        "adrpo_nb.models.sd3:8: importlib.import_module('adrpo_nb.utils.paths')._SECRET "
        "(private to adrpo_nb.utils.paths)",
    ]  # fmt: skip


def test_tests_may_use_the_private_names_of_their_own_module_only(tmp_path):
    root = _tree(tmp_path, {
        "adrpo_nb/utils/paths.py": "_SECRET = 1\n",
        "adrpo_nb/experiments/mnist/run.py": "_job = 1\n",
        "tests/test_paths.py": "from adrpo_nb.utils.paths import _SECRET\n",
        "tests/test_mnist.py": "from adrpo_nb.experiments.mnist import run\nrun._job\n",
        "tests/test_other.py": """
            import importlib

            from adrpo_nb.utils import paths

            def test(monkeypatch, family):
                monkeypatch.setattr(paths, "_SECRET", 2)
                importlib.import_module(f"adrpo_nb.experiments.{family}.run")._job
            """,
    })  # fmt: skip
    assert owned_by_test_file("test_audio_lm.py", "adrpo_nb.models.audio_lm")
    assert owned_by_test_file("test_qwen.py", "adrpo_nb.experiments.qwen.run")
    assert not owned_by_test_file("test_adrpo_nb.py", "adrpo_nb.core")
    assert not owned_by_test_file("conftest.py", "adrpo_nb.core")
    assert private_uses_in_tests(root, package_modules(root)) == [
        "tests/test_other.py:7: setattr(paths, '_SECRET') (private to adrpo_nb.utils.paths)",
        "tests/test_other.py:8: importlib.import_module(f'adrpo_nb.experiments.{family}.run')._job "
        "(private to adrpo_nb.experiments.*.run)",
    ]  # fmt: skip


def _notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    code = {"outputs": [], "execution_count": None}
    body = [{"cell_type": kind, "metadata": {}, "source": textwrap.dedent(text).splitlines(keepends=True),
             **(code if kind == "code" else {})} for kind, text in cells]  # fmt: skip
    path.write_text(json.dumps({"cells": body, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_chapters_may_use_the_public_api_only(tmp_path):
    root = _tree(tmp_path, {
        "adrpo_nb/viz/__init__.py": "from adrpo_nb.viz.slider import __all__ as _slider\n"
                                    "__all__ = [*_slider, 'table']\n",
        "adrpo_nb/viz/slider.py": "__all__ = ['BetaSlider']\n",
        "adrpo_nb/utils/paths.py": "_SECRET = 1\nhelper = 2\n",
        "adrpo_nb/core.py": "__all__ = ('kl_k3',)\nother = 1\n",
    })  # fmt: skip
    chapter = _notebook(root / "book/chapters/01.ipynb", [
        ("markdown", "`adrpo_nb.utils.paths._SECRET` in prose is fine"),
        ("code", """
            %matplotlib inline
            from adrpo_nb import core, viz
            from adrpo_nb.viz import BetaSlider, table, slider
            from adrpo_nb.utils import paths
            """),
        ("code", """
            if True:
                !ls
            paths.helper, core.kl_k3  # no __all__ in paths: any public name
            paths._SECRET
            core.other
            from adrpo_nb.viz import plot_nothing
            getattr(viz, "_slider")
            from adrpo_nb.nowhere import x
            """),
    ])  # fmt: skip
    found, names = chapter_violations(root, chapter, package_modules(root))
    assert found == [
        "book/chapters/01.ipynb cell 2:5: paths._SECRET (private to adrpo_nb.utils.paths)",
        "book/chapters/01.ipynb cell 2:8: getattr(viz, '_slider') (private to adrpo_nb.viz)",
        "book/chapters/01.ipynb cell 2:6: adrpo_nb.core.other: not in adrpo_nb.core.__all__",
        "book/chapters/01.ipynb cell 2:7: adrpo_nb.viz.plot_nothing: not in adrpo_nb.viz.__all__",
        "book/chapters/01.ipynb cell 2:9: adrpo_nb.nowhere.x: no module adrpo_nb.nowhere",
    ]  # fmt: skip
    assert {("adrpo_nb.viz", "BetaSlider"), ("adrpo_nb.viz", "table"), ("adrpo_nb.core", "kl_k3")} <= {
        (u.module, u.name) for u in names}  # fmt: skip


def test_the_all_reader_refuses_what_it_cannot_evaluate(tmp_path):
    root = _tree(tmp_path, {"adrpo_nb/core.py": "__all__ = sorted(['a'])\n", "adrpo_nb/utils.py": "x = 1\n"})
    with pytest.raises(ValueError, match=r"adrpo_nb\.core"):
        static_all(root, "adrpo_nb.core")
    assert static_all(root, "adrpo_nb.utils") is None


def test_a_module_outside_every_layer_is_an_error():
    for module in ("adrpo_nb_extra.x", "adrpo_nb.new_module"):
        with pytest.raises(ValueError, match=module):
            layer_of(module)
    assert LAYERS[layer_of("adrpo_nb.types")][0] == "types"
    assert LAYERS[layer_of("adrpo_nb.trainers.base")][0] == "trainers/integrations"
