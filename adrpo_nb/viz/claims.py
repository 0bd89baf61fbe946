"""The claims ledger (``data/results/claims.json``, made by ``python -m adrpo_nb.experiments.claims build``) as
the book shows it: a table per family and a forest plot of every tested claim.

Each claim has its own metric and scale (an accuracy gap, a KL ratio, an entropy), so the plot puts them on one
axis by dividing each by its own interval's half-width: a claim sits right of 0 when its estimate points the way
the claim says, and its bar (±1 half-width) clears 0 exactly when the 95 % interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adrpo_nb.notebook import glue
from adrpo_nb.viz.tables import Table, table

__all__ = ["VERDICT_COLORS", "claim_conclusion", "claim_interval_text", "claims_of", "claims_table", "glue_claims",
           "glue_name", "interval_holds_zero", "plot_claims", "reason_for_verdict"]

#: one colour per verdict, the same in every figure
VERDICT_COLORS = {"reproduced": "tab:green", "partly": "tab:orange", "not reproduced": "tab:red",
                  "not tested here": "tab:gray"}  # fmt: skip


def claims_of(ledger: dict[str, Any], prefix: str | None = None) -> list[dict[str, Any]]:
    """The ledger's entries whose id starts with ``prefix + "."`` (all of them for ``None``)."""
    entries = ledger["claims"]
    return [e for e in entries if prefix is None or e["id"].startswith(prefix + ".")]


def claim_interval_text(entry: dict[str, Any], spec: str = "+.3f") -> str:
    """``"+0.012 [−0.020, +0.044], 5 seeds"`` (or ``"—"`` for a claim not tested here)."""
    if entry["estimate"] is None:
        return "—"
    est, low, high = (format(entry[k], spec) for k in ("estimate", "ci_low", "ci_high"))
    return f"{est} [{low}, {high}], {entry['n_seeds']} seeds"


def interval_holds_zero(entry: dict[str, Any]) -> bool:
    """Whether a tested entry's 95 % interval holds 0 (no difference resolved, whichever way it points)."""
    if entry["estimate"] is None:
        raise ValueError(f"claim {entry['id']!r} is not tested here: it has no interval")
    return entry["ci_low"] <= 0 <= entry["ci_high"]


def reason_for_verdict(entry: dict[str, Any]) -> str:
    """Why a ledger entry has its verdict, in words (the rule of :func:`adrpo_nb.experiments.claims.verdict`), e.g.
    ``"the estimate points the claimed way, but its 95 % interval holds 0"``: *partly* is fewer seeds than a
    verdict needs or an interval that holds 0, *not reproduced* an estimate at 0 or on the other side (its
    interval holding 0 or not), *not tested here* the entry's note."""
    from adrpo_nb.experiments.claims import MIN_SEEDS

    verdict = entry["verdict"]
    if verdict == "not tested here":
        return entry.get("note") or "this repository cannot test it"
    sign = 1 if entry["direction"].startswith(">") else -1
    n, holds = entry["n_seeds"], interval_holds_zero(entry)
    few = f"only {n} seeds ran (a verdict needs {MIN_SEEDS})"
    if verdict == "reproduced":
        return f"its 95 % interval over {n} seeds excludes 0 on the claimed side"
    if verdict == "partly":
        if holds and n < MIN_SEEDS:
            return f"the estimate points the claimed way, but its 95 % interval holds 0 and {few}"
        if holds:
            return "the estimate points the claimed way, but its 95 % interval holds 0"
        return f"its 95 % interval excludes 0 on the claimed side, but {few}"
    if verdict == "not reproduced":
        if entry["estimate"] == 0:
            return "the estimate is 0"
        if not holds and sign * entry["ci_high" if sign > 0 else "ci_low"] < 0:
            return "the estimate and its whole 95 % interval lie on the other side of 0"
        return "the estimate lies on the other side of 0, and its 95 % interval holds 0"
    raise ValueError(f"claim {entry['id']!r} has an unknown verdict {verdict!r}")


def claim_conclusion(entry: dict[str, Any], reproduced: str | None = None, partly: str | None = None,
                     not_reproduced: str | None = None, *, reason: bool = True) -> str:  # fmt: skip
    """A conclusion worded from a ledger entry: the wording given for its verdict, then ``(verdict: reason)``
    (:func:`reason_for_verdict`; ``(verdict)`` alone with ``reason=False``). Without a wording for its verdict: the
    entry's statement when it is reproduced (the words the book may use if it holds), else ``Not established
    here``, ``Not reproduced here`` or ``Not tested here`` and the statement in quotes. So a page says what
    the ledger says, whatever verdict a rebuilt ledger gives."""
    statement = entry["statement"].rstrip(".")
    defaults = {"reproduced": statement, "partly": f"Not established here: “{statement}”",
                "not reproduced": f"Not reproduced here: “{statement}”",
                "not tested here": f"Not tested here: “{statement}”"}  # fmt: skip
    given = {"reproduced": reproduced, "partly": partly, "not reproduced": not_reproduced}.get(entry["verdict"])
    wording = given if given is not None else defaults[entry["verdict"]]
    why = f": {reason_for_verdict(entry)}" if reason else ""
    return f"{wording} ({entry['verdict']}{why})"


def claims_table(ledger: dict[str, Any], prefix: str | None = None, spec: str = "+.3f") -> Table:
    """One row per claim, three columns that fit a page: what it says and how it is measured, the estimate with
    its 95 % interval, the verdict (with the ledger's note, when it has one, after it). On a phone each claim is a
    card (``stack``), so the verdict is on screen."""
    rows = [{"claim": f"{e['statement']} Measured: {e['metric']} ({e['direction']} claimed).",
             "estimate [95 % interval]": claim_interval_text(e, spec),
             "verdict": e["verdict"] + (f" ({e['note']})" if e.get("note") else "")}
            for e in claims_of(ledger, prefix)]  # fmt: skip
    return table(rows, ["claim", "estimate [95 % interval]", "verdict"], stack=True)


def _standardised(entry: dict[str, Any]) -> tuple[float, float]:
    """The estimate in the claimed direction and in units of the interval's half-width, and that half-width."""
    sign = 1.0 if entry["direction"].startswith(">") else -1.0
    half = (entry["ci_high"] - entry["ci_low"]) / 2
    if half <= 0:
        raise ValueError(f"claim {entry['id']!r} has an interval of zero width ({entry['ci_low']}, "
                         f"{entry['ci_high']}); it cannot be drawn in units of its half-width")  # fmt: skip
    return sign * entry["estimate"] / half, half


def plot_claims(ledger: dict[str, Any], ax=None, prefixes: Sequence[str] | None = None):
    """Forest plot of the tested claims (see the module docstring), coloured by verdict; returns the axes."""
    import matplotlib.pyplot as plt

    entries = [e for e in claims_of(ledger) if e["estimate"] is not None
               and (prefixes is None or e["id"].split(".")[0] in prefixes)]  # fmt: skip
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.3 * len(entries) + 1.5))
    for row, entry in enumerate(reversed(entries)):
        centre, _ = _standardised(entry)
        color = VERDICT_COLORS[entry["verdict"]]
        ax.plot([centre - 1, centre + 1], [row, row], color=color, lw=2.5, solid_capstyle="butt")
        ax.plot(centre, row, "o", color=color, ms=5)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(entries)), [e["id"] for e in reversed(entries)], fontsize=10)
    ax.set_xlabel("estimate in the claimed direction, in units of its 95 % interval's half-width")
    for verdict, color in VERDICT_COLORS.items():
        if any(e["verdict"] == verdict for e in entries):
            ax.plot([], [], color=color, lw=2.5, label=verdict)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=4, fontsize=10, frameon=False)  # above, off the data
    ax.grid(axis="x", alpha=0.3)
    return ax


def glue_name(claim_id: str) -> str:
    """The glue name of a claim's interval text, e.g. ``claim-qwen-kl_b0_04`` (``-verdict`` appended for its
    verdict)."""
    return "claim-" + claim_id.replace(".", "-", 1).replace(".", "_")


def glue_claims(ledger: dict[str, Any], spec: str = "+.3f") -> None:
    """Glue every claim's interval text, verdict and the reason for it (:func:`glue_name`, ``-verdict`` and
    ``-reason`` appended: :func:`reason_for_verdict`) and the verdict counts (``claims-reproduced``,
    ``claims-partly``, ``claims-not_reproduced``, ``claims-not_tested_here``, ``claims-total``), so prose quotes
    the ledger and never types a number."""
    for entry in claims_of(ledger):
        name = glue_name(entry["id"])
        glue(name, claim_interval_text(entry, spec), markdown=True)
        glue(name + "-verdict", entry["verdict"], markdown=True)
        glue(name + "-reason", reason_for_verdict(entry), markdown=True)
    for verdict, count in ledger["counts"].items():
        glue("claims-" + verdict.replace(" ", "_"), count)
    glue("claims-total", len(ledger["claims"]))
