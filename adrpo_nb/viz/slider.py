"""The β0 slider over a sweep, drawn from its result file (``data/results/*.json``).

The slider is one object with two faces (:class:`BetaSlider`):

* with a running kernel (Jupyter, Colab) it is an ipywidgets panel: pick a method and a β0, see that
  run's samples, class histogram and its point on the reward–diversity front; a button fine-tunes
  at a new β0 with a progress bar;
* in the static book it is self-contained HTML + JavaScript (an ``<input type=range>`` swapping
  embedded PNGs and numbers, SVG drawn in the page): no kernel, no CDN.

Both are built from the same sweep dict. Frontends choose: Jupyter renders the widget view, the
book's configuration ranks ``text/html`` first.
"""

from __future__ import annotations

import html
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from adrpo_nb.viz.plots import (
    DISTANCE_LABELS,
    DIVERSITY_LABELS,
    METHOD_COLORS,
    METHOD_LABELS,
    plot_class_histogram,
    show_png,
)

__all__ = ["BetaSlider", "seeds_text", "slider_entries"]


def _config_method(run: dict) -> str:
    return run["config"]["method"]


def _config_beta0(run: dict) -> float:
    return run["config"]["beta0"]


def slider_entries(sweep: dict, diversity_key: str = "even_entropy_norm", seed: int = 0, distance_key: str = "w2",
                   reward_key: str = "reward", method_of: Callable[[dict], str] = _config_method,
                   param_of: Callable[[dict], float] = _config_beta0) -> dict[str, list[dict]]:  # fmt: skip
    """Per method, one entry per β0 (sorted): seed-``seed`` samples and histogram, seed-mean metrics.

    A run's samples are its ``samples_png`` (images) or its ``samples_html`` (e.g. text completions).
    ``method_of(run)`` and ``param_of(run)`` say which curve a run belongs to and where on the slider
    (default: ``config.method`` and ``config.beta0``; the audio chapter slides over CESAR's process weight as well).
    """
    by_method: dict[str, list[dict]] = {}
    runs = [r for r in sweep["runs"] if r.get("final") is not None]
    for key, name in ((diversity_key, "diversity_key"), (distance_key, "distance_key"), (reward_key, "reward_key")):
        lacking = next((r for r in runs if key not in r["final"]), None)
        if lacking is not None:
            raise ValueError(f"{name}={key!r} is not a final metric of this sweep's runs (they have "
                             f"{sorted(lacking['final'])}): pass {name}= one of them")  # fmt: skip
    for method in dict.fromkeys(method_of(r) for r in runs):
        entries = []
        for beta0 in sorted({param_of(r) for r in runs if method_of(r) == method}):
            group = [r for r in runs if method_of(r) == method and param_of(r) == beta0]
            _check_one_setting(group, method, beta0)
            shown = next((r for r in group if r["config"]["seed"] == seed), group[0])
            entries.append(_entry(method, beta0, group, shown, diversity_key, distance_key, reward_key))
        by_method[method] = entries
    return by_method


#: config and settings fields that differ between the seeds of one setting without changing what is trained
_PER_RUN_FIELDS = frozenset({"seed", "output_dir", "progress", "checkpoint_every", "snapshots"})


def _setting_of(run: dict) -> dict[str, Any]:
    fields = {f"config.{k}": v for k, v in run["config"].items()}
    fields.update({f"settings.{k}": v for k, v in (run.get("settings") or {}).items()})
    return {k: v for k, v in fields.items() if k.split(".", 1)[1] not in _PER_RUN_FIELDS}


def _check_one_setting(group: list[dict], method: str, beta0: float) -> None:
    """``ValueError`` when the runs of one slider point differ in more than their seed: their mean would pool
    two settings (e.g. ADRPO with and without its clip at the same β0) into a number no run has."""
    first = _setting_of(group[0])
    for run in group[1:]:
        other = _setting_of(run)
        differ = sorted(k for k in first.keys() | other.keys() if first.get(k) != other.get(k))
        if differ:
            raise ValueError(f"slider: the runs of {method!r} at {beta0!r} differ in {', '.join(differ)} "
                             f"(e.g. {first.get(differ[0])!r} vs {other.get(differ[0])!r}), so their mean would "
                             "pool two settings; select the runs of one setting first (e.g. "
                             "adrpo_nb.viz.lm.main_runs) or pass method_of= to tell them apart")  # fmt: skip


def seeds_text(n: int) -> str:
    """``"1 seed"``, ``"mean of 5 seeds"``: what a slider point averages."""
    return "1 seed" if n == 1 else f"mean of {n} seeds"


def _finite_entries(entries: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The entries whose reward, diversity and distance are finite; the others are dropped with a warning
    naming them (a NaN cannot be drawn, nor written into the static page's JSON)."""
    import warnings

    keep: dict[str, list[dict]] = {}
    for method, rows in entries.items():
        good = [e for e in rows if all(math.isfinite(e[k]) for k in ("reward", "diversity", "distance"))]
        dropped = [e["beta0"] for e in rows if e not in good]
        if dropped:
            warnings.warn(f"slider: {method} at {dropped} has non-finite metrics and is not shown", stacklevel=3)
        if good:
            keep[method] = good
    return keep


def _entry(method: str, beta0: float, group: list[dict], shown: dict, diversity_key: str, distance_key: str = "w2",
           reward_key: str = "reward") -> dict:  # fmt: skip
    finals = [r["final"] for r in group]
    return {
        "method": method,
        "beta0": beta0,
        "reward": float(np.mean([f[reward_key] for f in finals])),
        "diversity": float(np.mean([f[diversity_key] for f in finals])),
        "distance": float(np.mean([f[distance_key] for f in finals])),
        "seeds": len(group),
        "histogram": shown["final"].get("class_histogram"),
        "png": shown.get("samples_png"),
        "html": shown.get("samples_html"),
    }


#: colours for methods the ``colors`` mapping lacks (matplotlib's tab10)
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")  # fmt: skip


_STATIC_CSS = """
.adrpo-slider{font-family:system-ui,sans-serif;border:1px solid #ddd;border-radius:6px;padding:10px;margin:8px 0;
 max-width:760px}
.adrpo-slider .controls{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin-bottom:8px}
.adrpo-slider input[type=range]{width:260px}
.adrpo-slider .panels{display:flex;gap:12px;flex-wrap:wrap;align-items:flex-start}
.adrpo-slider img{width:224px;height:224px;object-fit:contain;image-rendering:pixelated;border:1px solid #eee}
.adrpo-slider .samples-text{width:300px;max-height:224px;overflow:auto;border:1px solid #eee;padding:4px}
.adrpo-slider .stats{margin-top:6px;font-size:14px}
.adrpo-slider .legend{display:flex;gap:14px;flex-wrap:wrap;margin-top:4px;font-size:13px}
.adrpo-slider .legend .swatch{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:5px;
 vertical-align:-1px}
"""

_STATIC_JS = """
(function(){
 var root=document.getElementById(ROOT_ID); if(!root) return;
 var data=JSON.parse(root.querySelector('script.adrpo-data').textContent);
 var methodSel=root.querySelector('select'), range=root.querySelector('input[type=range]');
 var img=root.querySelector('img'), stats=root.querySelector('.stats'), label=root.querySelector('.beta-label');
 var text=root.querySelector('.samples-text');
 var hist=root.querySelector('svg.hist'), front=root.querySelector('svg.front');
 var NS='http://www.w3.org/2000/svg';
 function el(tag,attrs,parent,text){var e=document.createElementNS(NS,tag);
   for(var k in attrs){e.setAttribute(k,attrs[k]);} if(text!==undefined){e.textContent=text;}
   parent.appendChild(e); return e;}
 var all=[]; Object.keys(data.entries).forEach(function(m){data.entries[m].forEach(function(e){all.push(e);});});
 var xs=all.map(function(e){return e.reward;}).concat([data.base?data.base.reward:1]);
 var ys=all.map(function(e){return e.diversity;}).concat([data.base?data.base.diversity:0]);
 var x0=Math.min.apply(null,xs), x1=Math.max.apply(null,xs), y0=Math.min(0,Math.min.apply(null,ys)),
     y1=Math.max.apply(null,ys);
 var W=260,H=224,P=34;
 function sx(x){return P+(x-x0)/((x1-x0)||1)*(W-P-8);} function sy(y){return H-P-(y-y0)/((y1-y0)||1)*(H-P-8);}
 function drawFront(cur){
   while(front.firstChild){front.removeChild(front.firstChild);}
   el('line',{x1:P,y1:H-P,x2:W-4,y2:H-P,stroke:'#999'},front); el('line',{x1:P,y1:4,x2:P,y2:H-P,stroke:'#999'},front);
   el('text',{x:W/2,y:H-6,'font-size':11,'text-anchor':'middle'},front,data.reward_label);
   el('text',{x:10,y:H/2,'font-size':11,'text-anchor':'middle',transform:'rotate(-90 10 '+H/2+')'},front,
      data.diversity_label);
   el('text',{x:P,y:H-P+14,'font-size':11,'text-anchor':'middle'},front,x0.toFixed(2));
   el('text',{x:W-8,y:H-P+14,'font-size':11,'text-anchor':'end'},front,x1.toFixed(2));
   el('text',{x:P-3,y:H-P,'font-size':11,'text-anchor':'end'},front,y0.toFixed(2));
   el('text',{x:P-3,y:12,'font-size':11,'text-anchor':'end'},front,y1.toFixed(2));
   all.forEach(function(e){el('circle',{cx:sx(e.reward),cy:sy(e.diversity),r:3,fill:data.colors[e.method]||'#888',
      'fill-opacity':0.75},front);});
   if(data.base){el('text',{x:sx(data.base.reward),y:sy(data.base.diversity)+4,'font-size':14,
      'text-anchor':'middle'},front,'\u2605');}
   el('circle',{cx:sx(cur.reward),cy:sy(cur.diversity),r:7,fill:'none',stroke:'#000','stroke-width':2,
      'class':'current'},front);
 }
 function drawHist(h){
   while(hist.firstChild){hist.removeChild(hist.firstChild);} hist.style.display=h?'':'none'; if(!h){return;}
   var w=22, top=Math.max(0.5,Math.max.apply(null,h));
   h.forEach(function(v,k){var bh=v/top*(H-40);
     el('rect',{x:8+k*w,y:H-22-bh,width:w-4,height:bh,fill:data.highlight.indexOf(k)>=0?'#1f77b4':'#bbb'},hist);
     el('text',{x:8+k*w+(w-4)/2,y:H-8,'font-size':10,'text-anchor':'middle'},hist,String(k));});
   el('text',{x:8,y:12,'font-size':10},hist,'class histogram');
 }
 function show(){
   var entries=data.entries[methodSel.value]; range.max=entries.length-1;
   var i=Math.min(parseInt(range.value,10),entries.length-1), e=entries[i];
   if(e.png){img.style.display=''; text.style.display='none'; img.src='data:image/png;base64,'+e.png;}
   else{img.style.display='none'; text.style.display=''; text.innerHTML=e.html||'';}
   img.setAttribute('data-beta0',e.beta0); text.setAttribute('data-beta0',e.beta0);
   label.textContent=data.param_label+' = '+e.beta0;
   stats.textContent=(data.method_labels[e.method]||e.method)+', '+data.param_label+' = '+e.beta0+': '+
     data.reward_label+' '+e.reward.toFixed(3)+
     ', '+data.diversity_label+' '+e.diversity.toFixed(3)+', '+data.distance_label+' '+e.distance.toFixed(4)+
     (e.seeds>1?' (mean of '+e.seeds+' seeds)':' (1 seed)');
   drawHist(e.histogram); drawFront(e);
 }
 methodSel.addEventListener('change',show); range.addEventListener('input',show); show();
})();
"""


class BetaSlider:
    """The β0 slider over a sweep: a live ipywidgets panel *and* a static HTML/JS page from one object.

    Args:
        sweep: the sweep dict (e.g. ``data/results/mnist_sweep.json``): ``runs`` with ``config``,
            ``final`` metrics (``reward``, the diversity key, the distance key, optionally ``class_histogram``)
            and ``samples_png`` (images) or ``samples_html`` (text, e.g. completions of a language model).
        diversity_key: which final metric is the diversity axis.
        method: the method shown first (default ``"adrpo"`` if the sweep has it, else its first); a method the
            sweep does not have is an error, not another method shown in its place.
        run_fn: optional ``run_fn(method, beta0, progress) -> result`` for the live "fine-tune" button
            (``progress(done, total)`` is called as it trains); its result joins the slider.
        highlight: classes drawn in blue in the class histogram (MNIST: the rewarded even digits).
        distance_key: the final metric shown as the distance to the reference (``"w2"``, ``"kl"``, ...).
        reward_key: the final metric on the reward axis.
        param_label, method_of, param_of: what the slider moves along (default β0, one curve per
            ``config.method``); see :func:`slider_entries`.
        colors, labels: each method's colour and name, keyed by what ``method_of`` returns (default the
            package's :data:`~adrpo_nb.viz.plots.METHOD_COLORS` and ``METHOD_LABELS``; the audio chapter passes
            its variants'). A method without a colour gets one of the tab10 colours no other method has.
        start: the slider's starting position, the parameter value nearest to it (default 0.05).
    """

    def __init__(self, sweep: dict, diversity_key: str = "even_entropy_norm", method: str | None = None,
                 run_fn: Callable[..., dict] | None = None, highlight: Sequence[int] = (0, 2, 4, 6, 8),
                 distance_key: str = "w2", reward_key: str = "reward", param_label: str = "β0",
                 method_of: Callable[[dict], str] = _config_method,
                 param_of: Callable[[dict], float] = _config_beta0, colors: Mapping[str, str] | None = None,
                 labels: Mapping[str, str] | None = None, start: float = 0.05):  # fmt: skip
        self.sweep, self.diversity_key, self.run_fn = sweep, diversity_key, run_fn
        self.colors = dict(METHOD_COLORS if colors is None else colors)
        self.labels = dict(METHOD_LABELS if labels is None else labels)
        self.start = float(start)
        self.distance_key, self.reward_key = distance_key, reward_key
        self.param_label, self.method_of, self.param_of = param_label, method_of, param_of
        self.entries = slider_entries(sweep, diversity_key, distance_key=distance_key, reward_key=reward_key,
                                      method_of=method_of, param_of=param_of)  # fmt: skip
        self.entries = _finite_entries(self.entries)
        if not self.entries:
            raise ValueError("the sweep has no finished runs to show")
        if method is not None and method not in self.entries:
            raise ValueError(f"method={method!r} is not in this sweep; it has {sorted(self.entries)}")
        self.method = method or ("adrpo" if "adrpo" in self.entries else next(iter(self.entries)))
        self._colour_new_methods()
        self.highlight = list(highlight)
        base = sweep.get("base")
        self.base = {"reward": base[reward_key], "diversity": base[diversity_key]} if base else None

    # ------------------------------------------------------------------ static face
    def static_html(self) -> str:
        """Self-contained HTML + JS (no external resource) of the slider."""
        root_id = f"adrpo-slider-{uuid.uuid4().hex[:8]}"
        payload = {
            "entries": self.entries,
            "base": self.base,
            "colors": {m: self.colors[m] for m in self.entries},
            "method_labels": {m: self.label(m) for m in self.entries},
            "diversity_label": DIVERSITY_LABELS.get(self.diversity_key, self.diversity_key),
            "distance_label": DISTANCE_LABELS.get(self.distance_key, self.distance_key),
            "reward_label": self.reward_key,
            "highlight": self.highlight,
            "param_label": self.param_label,
        }
        options = "".join(
            f'<option value="{html.escape(m)}"{" selected" if m == self.method else ""}>{html.escape(self.label(m))}'
            "</option>"
            for m in self.entries
        )
        n = len(self.entries[self.method])
        start = min(range(n), key=lambda i: abs(self.entries[self.method][i]["beta0"] - self.start))
        try:  # JSON has no NaN: a NaN would leave the page's script dead in the browser
            data = json.dumps(payload, allow_nan=False).replace("</", "<\\/")
        except ValueError as err:
            raise ValueError(f"the slider's data holds a non-finite number ({err}): check the sweep's base metrics"
                             ) from None
        script = _STATIC_JS.replace("ROOT_ID", json.dumps(root_id))
        return (
            f'<div class="adrpo-slider" id="{root_id}"><style>{_STATIC_CSS}</style>'
            f'<div class="controls"><label>method <select>{options}</select></label>'
            f'<label>{html.escape(self.param_label)} <input type="range" min="0" max="{n - 1}" step="1" '
            f'value="{start}"></label>'
            f'<span class="beta-label"></span></div>'
            f'<div class="panels"><img alt="samples at this β0"><div class="samples-text"></div>'
            f'<svg class="hist" width="232" height="224"></svg>'
            f'<svg class="front" width="260" height="224"></svg></div>{self._legend_html()}<div class="stats"></div>'
            f'<script type="application/json" class="adrpo-data">{data}</script><script>{script}</script></div>'
        )

    def _colour_new_methods(self) -> None:
        """Give a method without a colour one that no other method of the slider has (never a shared grey)."""
        spare = [c for c in _PALETTE if c not in {self.colors.get(m) for m in self.entries}]
        for m in self.entries:
            if m not in self.colors:
                self.colors[m] = spare.pop(0) if spare else "#888888"

    def label(self, method: str) -> str:
        """The name a reader sees for ``method`` (a key of :attr:`entries`)."""
        return self.labels.get(method, method)

    def _legend_html(self) -> str:
        """The static face's legend: one colour swatch and name per method, below the panels (outside the plot,
        so a long name is never cut by the plot's edge)."""
        items = "".join(f'<span><span class="swatch" style="background:{html.escape(self.colors[m])}"></span>'
                        f"{html.escape(self.label(m))}</span>" for m in self.entries)  # fmt: skip
        star = "<span>\u2605 pretrained</span>" if self.base else ""
        return f'<div class="legend">{items}{star}</div>'

    # ------------------------------------------------------------------ live face
    def widget(self):
        """The ipywidgets panel (needs ``ipywidgets`` and a kernel).

        The figure is redrawn into an ``Image`` widget (PNG bytes), not captured by an ``Output``
        widget: executing display capture inside widgets makes nbclient (nbmake, the book build)
        hang now and then (jupyter/nbclient#312).
        """
        import ipywidgets as w

        method = w.Dropdown(options=[(self.label(m), m) for m in self.entries], value=self.method,
                            description="method")  # fmt: skip
        beta = w.SelectionSlider(options=self._beta_options(self.method), description=self.param_label,
                                 continuous_update=False)  # fmt: skip
        image = w.Image(format="png", layout=w.Layout(width="100%", max_width="990px"))
        samples = w.HTML(layout=w.Layout(max_height="260px", overflow="auto"))
        caption = w.HTML()

        def redraw(*_):
            entries = {e["beta0"]: e for e in self.entries[method.value]}
            e = entries.get(beta.value)
            if e is None:
                return
            image.value = self._figure_png(e)
            samples.value = "" if e.get("png") else (e.get("html") or "")
            caption.value = html.escape(self._caption(e))

        def change_method(*_):
            beta.options = self._beta_options(method.value)
            redraw()

        method.observe(change_method, "value")
        beta.observe(redraw, "value")
        rows = [w.HBox([method, beta]), image, samples, caption]
        if self.run_fn is not None:
            rows.append(self._run_row(method, beta, redraw, w))
        redraw()
        return w.VBox(rows)

    def figure(self, e: dict):
        """The live face's figure of one entry: its samples (images), class histogram and its point on the
        reward–diversity plane, the legend below the panels (outside the data)."""
        import matplotlib.pyplot as plt

        panels = [k for k in ("png", "histogram") if e.get(k)]
        width = max(3.7 * (len(panels) + 1), 5.5)  # room for the legend's names below a single panel
        fig, axes = plt.subplots(1, len(panels) + 1, figsize=(width, 3.6), squeeze=False)
        axes = list(axes[0])
        title = f"{self.label(e['method'])}, {self.param_label} = {e['beta0']:g}"
        if e.get("png"):
            show_png(e["png"], axes.pop(0), title)
        if e.get("histogram"):
            plot_class_histogram(e["histogram"], axes.pop(0), highlight=self.highlight)
        self._draw_front(axes[0], e)
        if not e.get("png"):
            axes[0].set_title(title, fontsize=11)
        handles, names = axes[0].get_legend_handles_labels()
        fig.tight_layout(rect=(0, 0.14, 1, 1))
        fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=10, frameon=False)
        return fig

    def _figure_png(self, e: dict) -> bytes:
        import io

        import matplotlib.pyplot as plt

        fig = self.figure(e)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        return buffer.getvalue()

    def _caption(self, e: dict) -> str:
        label = DIVERSITY_LABELS.get(self.diversity_key, self.diversity_key)
        distance = DISTANCE_LABELS.get(self.distance_key, self.distance_key)
        return (f"{self.label(e['method'])}, {self.param_label} = {e['beta0']:g}: "
                f"{self.reward_key} {e['reward']:.3f}, {label} {e['diversity']:.3f}, {distance} {e['distance']:.4f} "
                f"({seeds_text(e['seeds'])})")  # fmt: skip

    def _run_row(self, method, beta, redraw, w):
        new_beta = w.BoundedFloatText(value=0.03, min=0.0, max=100.0, step=0.01, description="new β0")
        button = w.Button(description="fine-tune", icon="play")
        bar = w.IntProgress(value=0, min=0, max=1, description="")
        status = w.Label("")

        def progress(done: int, total: int) -> None:
            bar.max, bar.value = total, done

        def run(_):
            button.disabled = True
            status.value = f"training {self.label(method.value)} at β0 = {new_beta.value:g} ..."
            try:
                result = self.run_fn(method.value, float(new_beta.value), progress)
                self.add_run(result)
                beta.options = self._beta_options(method.value)
                beta.value = float(new_beta.value)
                status.value = f"done: {self.reward_key} {result['final'][self.reward_key]:.3f}"
                redraw()
            finally:
                button.disabled = False

        button.on_click(run)
        return w.HBox([new_beta, button, bar, status])

    def add_run(self, result: dict) -> None:
        """Add one run's result (same format as the sweep's) to the slider."""
        method, beta0 = self.method_of(result), self.param_of(result)
        entry = _entry(method, beta0, [result], result, self.diversity_key, self.distance_key, self.reward_key)
        entries = [e for e in self.entries.setdefault(method, []) if e["beta0"] != beta0] + [entry]
        self.entries[method] = sorted(entries, key=lambda e: e["beta0"])
        self._colour_new_methods()

    def _beta_options(self, method: str) -> list[tuple[str, float]]:
        return [(f"{e['beta0']:g}", e["beta0"]) for e in self.entries[method]]

    def _draw_front(self, ax, current: dict) -> None:
        for m, entries in self.entries.items():
            ax.plot([e["reward"] for e in entries], [e["diversity"] for e in entries], "o-", ms=5, alpha=0.8,
                    color=self.colors[m], label=self.label(m))  # fmt: skip
        if self.base:
            ax.plot([self.base["reward"]], [self.base["diversity"]], "k*", ms=10, label="pretrained")
        ax.plot([current["reward"]], [current["diversity"]], "o", ms=12, mfc="none", mec="k", mew=2)
        ax.set_xlabel(self.reward_key, fontsize=10)
        ax.set_ylabel(DIVERSITY_LABELS.get(self.diversity_key, self.diversity_key), fontsize=10)
        ax.tick_params(labelsize=10)
        ax.grid(alpha=0.3)

    # ------------------------------------------------------------------ both faces at once
    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self), "text/html": self.static_html()}
        try:
            widget = self.widget()
        except ImportError:  # no ipywidgets: the static face is all there is
            return bundle
        widget_bundle = widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle.update({k: v for k, v in widget_bundle.items() if k != "text/plain"})
        return bundle

    def __repr__(self) -> str:
        counts = {m: len(v) for m, v in self.entries.items()}
        return f"BetaSlider({counts} β0 values per method, diversity={self.diversity_key!r})"
