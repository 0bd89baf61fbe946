"""adrpo_nb.notebook's show_source: a chapter shows a loss's own code beside its equation."""

from adrpo_nb import fm_rl_loss, grpo_loss
from adrpo_nb.notebook import show_source, source_markdown


def test_source_markdown_is_the_code_without_its_docstring():
    text = source_markdown(fm_rl_loss)
    assert text.startswith("```python\ndef fm_rl_loss(") and text.endswith("\n```")
    assert "loss = (rl_term + w2_term).mean()" in text
    assert "RL fine-tuning loss for a flow-matching" not in text  # the docstring's first line
    with_doc = source_markdown(fm_rl_loss, docstring=True)
    assert "RL fine-tuning loss for a flow-matching" in with_doc and len(with_doc) > len(text)


def test_show_source_is_markdown_for_ipython():
    shown = show_source(grpo_loss)
    assert getattr(shown, "data", shown) == source_markdown(grpo_loss)
    assert type(shown).__name__ in ("Markdown", "str")


def test_setup_applies_a_readable_figure_style():
    """The book's figures: content width (7.5 in), text at 10 pt or more, legible at the page's dpi."""
    import matplotlib as mpl
    import torch
    from matplotlib.font_manager import FontProperties

    from adrpo_nb import notebook

    threads = torch.get_num_threads()
    with mpl.rc_context():
        notebook.setup(threads=threads)
        rc = mpl.rcParams
        assert rc["figure.figsize"] == [7.5, 3.5] and rc["figure.dpi"] >= 90
        for key in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize",
                    "legend.fontsize"):  # fmt: skip
            size = rc[key]
            points = FontProperties(size=size).get_size_in_points()
            assert points >= 10, f"{key} = {size} ({points} pt)"


def test_a_provenance_note_reads_as_a_sentence_of_its_own():
    from adrpo_nb.notebook import provenance_note

    line = provenance_note({"provenance": {"command": "x", "commit": "abc", "note": "seconds is wall time"}})
    assert line.endswith("*Seconds is wall time*")


def test_shown_source_leaves_out_the_formatters_markers():
    from adrpo_nb import grpo_loss
    from adrpo_nb.notebook import source_markdown

    assert "fmt: skip" not in source_markdown(grpo_loss) and "aggregate(per_token)" in source_markdown(grpo_loss)


def test_glue_hands_a_numpy_scalar_over_as_the_python_number_it_holds(monkeypatch):
    """MyST-NB formats ``{glue:text}`name:.3f``` from the value's text/plain repr: np.float64's repr
    ('np.float64(0.52)') cannot be formatted, and the book build failed on it."""
    import myst_nb
    import numpy as np

    from adrpo_nb import notebook

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=False: glued.setdefault(name, value))
    notebook.glue("x", np.float64(0.5182950244116518))
    notebook.glue("n", np.int64(3))
    notebook.glue("a", np.array([1.0, 2.0]))  # not a scalar: left alone
    assert type(glued["x"]) is float and glued["x"] == 0.5182950244116518 and repr(glued["x"]) == "0.5182950244116518"
    assert type(glued["n"]) is int and isinstance(glued["a"], np.ndarray)
