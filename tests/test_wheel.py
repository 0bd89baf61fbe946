"""Reuse outside the repository: a wheel of the package, installed in a fresh virtual environment, runs the
README's quick start from an empty folder with ``ADRPO_DATA`` unset.

The fresh environment reuses this interpreter's installed dependencies without downloading anything: a
``.pth`` file appends their site-packages to its ``sys.path``. (A ``.pth`` line only appends a folder; the
``.pth`` files inside it, such as the editable install's finder for ``adrpo_nb`` pointing at the repository,
do not run, and the new environment's own site-packages comes first.) The test asserts that the wheel's copy
is the one imported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from test_quickstart import TRAINERS, block_env, check_block_output, quickstart_blocks, run_block

ROOT = Path(__file__).resolve().parents[1]
#: top-level folders of data/ the wheel leaves out (see pyproject.toml's package-data)
NOT_SHIPPED = ("mnist", "results")

CHECK_INSTALL = r"""
import json, os, sys
from pathlib import Path
import adrpo_nb, adrpo_nb_data
from adrpo_nb.experiments.mnist import load_mnist
from adrpo_nb.utils.paths import DataFileError, data_dir, repository_root, runs_dir
from adrpo_nb.utils.provenance import git_commit
try:
    load_mnist("test")
    missing = None
except DataFileError as err:
    missing = str(err)
print(json.dumps({"adrpo_nb": adrpo_nb.__file__, "adrpo_nb_data": list(adrpo_nb_data.__path__)[0],
                  "data_dir": str(data_dir()), "runs_dir": str(runs_dir()), "cwd": os.getcwd(),
                  "repository_root": repository_root() and str(repository_root()), "commit": git_commit(),
                  "missing": missing}))
"""


def _skip_unshipped(folder: str, names: list[str]) -> list[str]:
    """``shutil.copytree``'s ignore: caches, and the data/ folders the wheel leaves out."""
    skip = [n for n in names if n == "__pycache__"]
    return skip + [n for n in names if n in NOT_SHIPPED] if Path(folder) == ROOT / "data" else skip


def _copy_sources(dest: Path) -> Path:
    """The files a build reads, copied out of the repository (a build writes build/ and *.egg-info next to them)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    for folder in ("adrpo_nb", "data"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=_skip_unshipped)
    return dest


def _build_wheel(tmp: Path) -> Path:
    src, out = _copy_sources(tmp / "src"), tmp / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(out), str(src)], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(out.glob("adrpo_nb-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _fresh_venv(tmp: Path) -> Path:
    """A virtual environment without pip whose sys.path ends with this interpreter's site-packages."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_adrpo_test_deps.pth").write_text("\n".join(deps) + "\n")
    return python


def test_pyproject_lists_every_package():
    """setuptools cannot mix ``find`` with the data/ mapping, so pyproject.toml lists the packages: all of them."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "adrpo_nb").rglob("__init__.py")}
    assert set(config["packages"]) == found | {"adrpo_nb_data"}, "update [tool.setuptools] packages"
    assert config["package-dir"] == {"adrpo_nb_data": "data"}


def test_data_and_runs_folders_in_a_clone_and_installed(monkeypatch, tmp_path):
    """The resolution order: $ADRPO_DATA, the repository's data/, the installed adrpo_nb_data; runs: $ADRPO_RUNS,
    <repo>/runs, ./runs. Commands without --out write under the runs folder, never into the data folder."""
    from adrpo_nb.experiments.runner import default_output
    from adrpo_nb.utils import paths

    for name in ("ADRPO_DATA", "ADRPO_RUNS"):
        monkeypatch.delenv(name, raising=False)
    assert paths.repository_root() == ROOT
    assert paths.data_dir() == ROOT / "data" and paths.runs_dir() == ROOT / "runs"
    assert default_output("results", "x.json") == ROOT / "runs" / "results" / "x.json"
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path / "mine"))
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path / "my_runs"))
    assert paths.data_dir() == tmp_path / "mine" and paths.runs_dir() == tmp_path / "my_runs"
    for name in ("ADRPO_DATA", "ADRPO_RUNS"):
        monkeypatch.delenv(name)

    installed = tmp_path / "site-packages" / "adrpo_nb_data"  # as a wheel lays it out
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(installed.parent))
    monkeypatch.delitem(sys.modules, "adrpo_nb_data", raising=False)
    monkeypatch.setattr(paths, "repository_root", lambda: None)  # no source tree around the package
    monkeypatch.chdir(tmp_path)
    assert paths.data_dir() == installed.resolve()
    assert paths.runs_dir() == tmp_path.resolve() / "runs"
    assert default_output("results", "x.json") == tmp_path.resolve() / "runs" / "results" / "x.json"
    with pytest.raises(paths.DataFileError, match="ADRPO_DATA=<clone>/data"):
        paths.data_path("mnist", "train-images-idx3-ubyte.gz")


@pytest.mark.slow
def test_installed_wheel_runs_the_quickstart_outside_the_repository(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "adrpo_nb_data/checkpoints/mnist/flow.safetensors" in names
    assert "adrpo_nb_data/checkpoints/qwen_tiny_countdown/model.safetensors" in names
    assert not [n for n in names if n.startswith(tuple(f"adrpo_nb_data/{d}/" for d in NOT_SHIPPED))]
    python = _fresh_venv(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                           "-q", str(wheel)], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    work = tmp_path / "work"  # an empty folder outside the repository, no PYTHONPATH, no ADRPO_DATA / ADRPO_RUNS
    work.mkdir()
    env = block_env(None)
    info = json.loads(run_block(CHECK_INSTALL, str(python), work, env).stdout.strip().splitlines()[-1])
    venv = tmp_path / "venv"
    assert Path(info["adrpo_nb"]).resolve().is_relative_to(venv.resolve()), f"not the wheel's copy: {info}"
    assert Path(info["data_dir"]) == Path(info["adrpo_nb_data"]) and Path(info["data_dir"]).is_relative_to(venv)
    assert info["runs_dir"] == str(work.resolve() / "runs"), "an installed package writes runs under ./runs"
    assert info["repository_root"] is None and info["commit"] == "unknown"
    assert info["missing"] and "ADRPO_DATA" in info["missing"], info["missing"]
    proc = subprocess.run([str(python), "-m", "adrpo_nb.experiments.mnist", "pretrain", "--smoke"], cwd=work, env=env,
                          capture_output=True, text=True)  # fmt: skip
    # pretraining reads data/mnist, which the wheel does not ship: a clear error, and nothing written in the venv
    assert proc.returncode != 0 and "ADRPO_DATA=<clone>/data" in proc.stderr, proc.stderr[-2000:]
    assert not list(Path(info["data_dir"]).rglob("pretrain*-smoke")), "pretrain wrote into site-packages"
    for family in ("mnist", "qwen"):
        proc = subprocess.run([str(python), "-m", f"adrpo_nb.experiments.{family}", "--help"], cwd=work, env=env,
                              capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0 and "usage" in proc.stdout, proc.stderr[-2000:]
    for index, code in enumerate(quickstart_blocks()):
        if index == len(TRAINERS) - 1 and subprocess.run([str(python), "-c", "import trl"], env=env).returncode:
            continue  # the TRL block needs the extra adrpo-nb[trl]
        check_block_output(index, run_block(code, str(python), work, env).stdout)
