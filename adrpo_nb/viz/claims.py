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
from adrpo_nb.stats import MIN_SEEDS, VERDICTS
from adrpo_nb.viz.tables import Table, table

__all__ = ["VERDICT_COLORS", "by_verdict", "claim_conclusion", "claim_interval_text", "claim_reading", "claims_of",
           "claims_table", "glue_claims", "glue_name", "interval_holds_zero", "plot_claims", "verdict_reason"]

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


def verdict_reason(entry: dict[str, Any]) -> str:
    """Why the entry has its verdict, read from its numbers alone, so that prose quoting it stays true when a
    re-run changes the verdict: for **partly**, whether the interval holds 0, too few seeds ran, or both; for
    **not reproduced**, whether the estimate is 0, points the other way within the noise, or points the other way
    with an interval that excludes 0 there; for **not tested here**, the ledger's note."""
    v = entry["verdict"]
    if v == "not tested here":
        return entry.get("note") or "this repository has no measure for it"
    n, est, low, high = entry["n_seeds"], entry["estimate"], entry["ci_low"], entry["ci_high"]
    if v == "reproduced":
        return f"the 95 % interval excludes 0 on the claimed side, on at least {MIN_SEEDS} seeds"
    if v == "partly":
        holds, few = low <= 0 <= high, n < MIN_SEEDS
        if holds and few:
            return f"the 95 % interval holds 0, and fewer than {MIN_SEEDS} seeds ran"
        if holds:
            return "the 95 % interval holds 0"
        return f"the 95 % interval excludes 0, but fewer than {MIN_SEEDS} seeds ran"
    if v == "not reproduced":
        if est == 0:
            return "the estimate is 0"
        if low > 0 or high < 0:
            return "the estimate points the other way, and its 95 % interval excludes 0 on that side"
        return "the estimate points the other way, within the noise: its 95 % interval holds 0"
    raise ValueError(f"claim {entry.get('id')!r} has an unknown verdict {v!r}")


def claim_reading(entry: dict[str, Any], spec: str = "+.3f") -> str:
    """The verdict in bold with its estimate and reason, e.g. ``"**partly** (+0.771 [+0.314, +1.227], 3 seeds;
    the 95 % interval excludes 0, but fewer than 5 seeds ran)"``; ``"**not tested here** (<note>)"``."""
    if entry["estimate"] is None:
        return f"**{entry['verdict']}** ({verdict_reason(entry)})"
    return f"**{entry['verdict']}** ({claim_interval_text(entry, spec)}; {verdict_reason(entry)})"


def by_verdict(entry: dict[str, Any], **texts: str) -> str:
    """The text for the entry's verdict among ``reproduced``, ``partly``, ``not_reproduced`` and
    ``not_tested_here`` (all four required: prose worded from a verdict has a sentence for each, so a re-run that
    changes the verdict changes the sentence, never leaves one that no longer holds)."""
    keys = {v.replace(" ", "_") for v in VERDICTS}
    if set(texts) != keys:
        raise ValueError(f"by_verdict needs a text for each of {sorted(keys)}, got {sorted(texts)}")
    return texts[entry["verdict"].replace(" ", "_")]


def claim_conclusion(entry: dict[str, Any], reproduced: str | None = None, partly: str | None = None,
                     not_reproduced: str | None = None, *, reason: bool = True) -> str:  # fmt: skip
    """A conclusion worded from a ledger entry: the wording given for its verdict, then ``(verdict: reason)``
    (:func:`verdict_reason`; ``(verdict)`` alone with ``reason=False``). Without a wording for its verdict: the
    entry's statement when it is reproduced (the words the book may use if it holds), else ``Not established
    here``, ``Not reproduced here`` or ``Not tested here`` and the statement in quotes. So a page says what
    the ledger says, whatever verdict a rebuilt ledger gives."""
    statement = entry["statement"].rstrip(".")
    defaults = {"reproduced": statement, "partly": f"Not established here: “{statement}”",
                "not reproduced": f"Not reproduced here: “{statement}”",
                "not tested here": f"Not tested here: “{statement}”"}  # fmt: skip
    given = {"reproduced": reproduced, "partly": partly, "not reproduced": not_reproduced}.get(entry["verdict"])
    wording = given if given is not None else defaults[entry["verdict"]]
    why = f": {verdict_reason(entry)}" if reason else ""
    return f"{wording} ({entry['verdict']}{why})"


def claims_table(ledger: dict[str, Any], prefix: str | None = None, spec: str = "+.3f") -> Table:
    """One row per claim, three columns that fit a page: what it says and how it is measured, the estimate with
    its 95 % interval, the verdict with its reason (:func:`verdict_reason`; for a claim not tested here, the
    ledger's note). On a phone each claim is a card (``stack``), so the verdict is on screen."""
    rows = [{"claim": f"{e['statement']} Measured: {e['metric']} ({e['direction']} claimed).",
             "estimate [95 % interval]": claim_interval_text(e, spec),
             "verdict": f"{e['verdict']} ({_reason_and_note(e)})"}
            for e in claims_of(ledger, prefix)]  # fmt: skip
    return table(rows, ["claim", "estimate [95 % interval]", "verdict"], stack=True)


def _reason_and_note(entry: dict[str, Any]) -> str:
    """The verdict's reason, and the ledger's note when it says more than the reason and the seed count do."""
    reason, note = verdict_reason(entry), entry.get("note") or ""
    note = note.replace(f"{entry['n_seeds']} seeds (< {MIN_SEEDS})", "").strip()
    return reason if not note or note in reason else f"{reason}; {note}"


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
    """Glue every claim's interval text, verdict, the verdict's reason and all three in one phrase
    (:func:`glue_name`, with ``-verdict``, ``-reason`` and ``-reading`` appended; :func:`verdict_reason`,
    :func:`claim_reading`) and the verdict counts
    (``claims-reproduced``, ``claims-partly``, ``claims-not_reproduced``, ``claims-not_tested_here``,
    ``claims-total``), so prose quotes the ledger and never types a number."""
    for entry in claims_of(ledger):
        name = glue_name(entry["id"])
        glue(name, claim_interval_text(entry, spec), markdown=True)
        glue(name + "-verdict", entry["verdict"], markdown=True)
        glue(name + "-reason", verdict_reason(entry), markdown=True)
        glue(name + "-reading", claim_reading(entry, spec), markdown=True)
    for verdict, count in ledger["counts"].items():
        glue("claims-" + verdict.replace(" ", "_"), count)
    glue("claims-total", len(ledger["claims"]))
