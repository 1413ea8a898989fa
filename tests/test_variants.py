"""The variants table is the one home of names, labels and styles: every runner's names are in
it, the plots read it, and each variant has its own label, colour and marker."""

from lt_utils.book import plots
from lt_utils.chapters.landscape import COMPARED
from lt_utils.chapters.transform import METHODS
from lt_utils.lottery.variants import VARIANTS, label, labels, names


def test_every_runner_names_only_listed_variants():
    assert names("experiments") == ("iterative", "oneshot", "reinit", "random_sparse")
    assert names("landscape") == ("finetune", "random_sparse_reinit")
    assert METHODS == names("transform") == ("rst", "unilth", "unidlth")
    assert set(COMPARED) <= set(VARIANTS)


def test_labels_colours_and_markers_are_distinct_and_read_by_the_plots():
    for attribute in ("label", "color", "marker"):
        values = [getattr(v, attribute) for v in VARIANTS.values()]
        assert len(set(values)) == len(values), attribute
    for name, variant in VARIANTS.items():
        assert variant.meaning and variant.name == name
        assert plots.label(name) == label(name) == variant.label
        assert plots.VARIANT_STYLE[name] == {"label": variant.label, "color": variant.color, "marker": variant.marker}
    assert labels(["oneshot", "finetune", "reinit"]) == \
        "winning ticket (one-shot); fine-tuning (no rewinding); random reinitialization"
