"""One command line for every family, built from the fields of its config and settings (as TRL builds its CLI
from its dataclasses).

``python -m adrpo_nb.experiments.<family> train --help`` lists one flag per field (``--learning-rate``,
``--guidance-scale``, ...; old spellings such as ``--lr`` stay as aliases). A flag not given keeps the family's
default (its smoke size with ``--smoke``); a value given is used as it is, ``--smoke`` or not —
``--learning-rate 0`` is a learning rate of 0 (refused by the config, naming it), never "unset". Each family adds
its own commands (``pretrain``, ``guidance``, the real paths' flags) through the hooks of
:class:`~adrpo_nb.experiments.family.Family`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adrpo_nb.experiments.family import Family, RunSpec, field_types
from adrpo_nb.experiments.runner import check_output, default_output, run, smoke, sweep
from adrpo_nb.tasks.splits import FAMILIES
from adrpo_nb.tasks.splits import main as splits_main
from adrpo_nb.utils.paths import atomic_write_json
from adrpo_nb.utils.validate import ConfigError

__all__ = ["add_field_flags", "given_fields", "main", "parser"]


def _none_or(convert: Any) -> Any:
    def parse(text: str) -> Any:
        return None if text.lower() == "none" else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _flag_kwargs(name: str, hint: Any, family: Family) -> dict[str, Any] | None:
    """argparse keywords of one field's flag, from its type hint (``None``: no flag, e.g. a free-form dict)."""
    args = typing.get_args(hint)
    optional = type(None) in args
    inner = [a for a in args if a is not type(None)]
    base = inner[0] if optional and len(inner) == 1 else hint
    if name == "method":
        return {"choices": family.methods}
    if name == "clip":
        return {"type": float, "nargs": 2, "metavar": ("A_MIN", "A_MAX")}
    if base is bool:
        return {"action": argparse.BooleanOptionalAction}
    if base in (int, float, str):
        return {"type": _none_or(base) if optional else base}
    origin = typing.get_origin(base)
    if origin in (list, tuple):
        element = next(a for a in typing.get_args(base) if a is not Ellipsis)
        element_args = typing.get_args(element)
        convert = element_args[0] if element_args else element
        return {"type": _none_or(convert) if type(None) in element_args else convert, "nargs": "*"}
    return None


def add_field_flags(parser: argparse.ArgumentParser, family: Family, skip: Sequence[str] = ()) -> None:
    """One flag per field of ``family``'s config and settings (but ``skip``), with its aliases; nothing is set
    unless given (``argparse.SUPPRESS``)."""
    groups = (("trainer config", family.config_class), ("family settings", family.settings_class))
    for title, cls in groups:
        group = parser.add_argument_group(f"{title} ({cls.__name__})")
        for name, hint in field_types(cls).items():
            kwargs = _flag_kwargs(name, hint, family)
            if name in skip or name in ("output_dir", "progress") or kwargs is None:
                continue
            flags = [f"--{name.replace('_', '-')}", *family.cli_aliases.get(name, ())]
            group.add_argument(*flags, dest=name, default=argparse.SUPPRESS, **kwargs)
            if name == "clip":
                group.add_argument("--no-clip", dest="clip", action="store_const", const=None,
                                   default=argparse.SUPPRESS, help="ADRPO without clipping (β_eff may be negative)")


def given_fields(args: argparse.Namespace, family: Family) -> dict[str, Any]:
    """The config and settings fields given on the command line (tuples for the clip pair and tuple fields)."""
    names = {f.name for cls in (family.config_class, family.settings_class) for f in dataclasses.fields(cls)}
    names |= set(family.spec_aliases)
    fields = {k: v for k, v in vars(args).items() if k in names}
    if isinstance(fields.get("clip"), list):
        fields["clip"] = tuple(fields["clip"])
    return fields


def parser(family: Family, description: str | None = None) -> argparse.ArgumentParser:
    """The family's command line: ``train``, ``sweep``, ``evaluate``, and the family's own commands."""
    p = argparse.ArgumentParser(prog=f"python -m adrpo_nb.experiments.{family.name}", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="one RL fine-tuning run")
    add_field_flags(tr, family)
    tr.add_argument("--out", default=None, help="run folder (checkpoint, records, result.json)")
    tr.add_argument("--smoke", action="store_true", help="the seconds-long version (what CI runs)")
    family.add_train_flags(tr)
    sw = sub.add_parser("sweep", help="the family's grid of runs × seeds, written as one JSON")
    add_field_flags(sw, family, skip=("method", "beta0", "seed"))
    sw.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sw.add_argument("--workers", type=int, default=2)
    sw.add_argument("--runs-dir", default=None, help=f"default: runs/{family.name}_sweep[-smoke]")
    sw.add_argument("--out", type=Path, default=None, help=f"default: runs/results[-smoke]/{family.name}_sweep.json")
    sw.add_argument("--smoke", action="store_true")
    family.add_sweep_flags(sw)
    ev = sub.add_parser("evaluate", help="metrics of the shipped pretrained model")
    add_field_flags(ev, family, skip=("method", "beta0", "seed"))
    if family.name in FAMILIES:
        sp = sub.add_parser("splits", help="the pretrain / rl_train / eval splits, held out by meaning")
        sp.add_argument("--json", action="store_true", help="one JSON object (else: sizes and same-meaning overlaps)")
    family.add_commands(sub)
    return p


def _splits(family: Family, as_json: bool) -> None:
    splits_main([family.name, *(["--json"] if as_json else [])])


def _spec(family: Family, args: argparse.Namespace, shrink: bool) -> RunSpec:
    """The spec of the flags given; ``shrink`` (``--smoke``) sets the smoke sizes of the fields not given (a given
    ``--iterations 3`` stays 3)."""
    given = given_fields(args, family)
    try:
        spec = family.spec(**given)
        return family.shrink(spec, keep=given) if shrink else spec
    except ConfigError as err:  # a flag's value the config or settings refuse: name it, no traceback
        raise SystemExit(f"python -m adrpo_nb.experiments.{family.name} {args.command}: {err}") from None


def _train(family: Family, args: argparse.Namespace, shrink: bool) -> None:
    check_output(args.out, shrink)
    spec = _spec(family, args, shrink).replace(output_dir=args.out, progress=True)
    if family.train_elsewhere(args, spec):
        return
    result = run(family, spec, command=None)
    if result["final"] is not None:
        print(json.dumps({k: v for k, v in result["final"].items() if isinstance(v, float)}, indent=1))
    else:
        print(f"diverged: {result['diverged']}")
    print(f"{result['provenance']['seconds']} s" + (f"; wrote {args.out}/result.json" if args.out else ""))


def _sweep(family: Family, args: argparse.Namespace, shrink: bool) -> None:
    check_output(args.out, shrink)
    check_output(args.runs_dir, shrink, "--runs-dir")
    base = _spec(family, args, shrink)
    specs, name = family.sweep_specs(args, base, shrink)
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f"--seeds lists a seed twice: {args.seeds}")
    runs_dir = args.runs_dir or default_output(name, smoke_run=shrink)
    out = args.out or default_output("results", f"{name}.json", smoke_run=shrink)
    result = sweep(family, specs, base=base, runs_dir=runs_dir, workers=args.workers)
    atomic_write_json(out, result)
    for line in family.summary_lines(result):
        print(line)
    print(f"wrote {out}")


def main(family: Family, argv: Sequence[str] | None = None, description: str | None = None) -> int:
    """Run the family's command line (``argv``: default ``sys.argv[1:]``)."""
    args = parser(family, description).parse_args(argv)
    shrink = getattr(args, "smoke", False) or smoke()
    if args.command == "train":
        _train(family, args, shrink)
    elif args.command == "sweep":
        _sweep(family, args, shrink)
    elif args.command == "evaluate":
        metrics = family.base_record(_spec(family, args, False))
        print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float, list))}, indent=1))
    elif args.command == "splits":
        _splits(family, args.json)
    elif args.command == "pretrain":
        check_output(args.out, shrink)
        out = args.out or default_output("pretrain", family.pretrain_name, smoke_run=shrink)
        family.pretrain(out, shrink, args)
        print(f"wrote {out}")
    else:
        family.command(args, shrink)
    return 0
