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
