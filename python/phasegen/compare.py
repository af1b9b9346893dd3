"""Samples against a truth, observable by observable, each figure beside its truth-vs-truth floor
(the same figure between two truth sets of the samples' size), as `phasegen eval` reports them.

    table = phasegen.compare(truth, samples)          # {observable: {"model": {...}, "floor": {...}}}
    print(phasegen.format_comparison(table))
"""

from ._core import Error, distances, observables, truth_floor


def compare(truth, samples, sqrt_s=None, names=(), bins=50, weights=None):
    """Per observable (the standard ones, or `names`): {"model": distances(truth, samples),
    "floor": truth_floor(truth, len(samples))}, each a dict of w1, ks, ks_p, chi2, chi2_ndf, chi2_p.
    The truth should hold at least twice the samples (the floor takes its last m events)."""
    if truth.shape[1:] != samples.shape[1:]:
        raise Error("compare: expected truth and samples of one N, but got " + str(list(truth.shape)) + " and "
                    + str(list(samples.shape)))
    if sqrt_s is None and truth.shape[0] > 0:
        sqrt_s = float(truth[0, :, 0].sum())
    m = samples.shape[0]
    if truth.shape[0] < 2 * m:
        raise Error("compare: the floor needs a truth of at least twice the samples (" + str(2 * m)
                    + " events), but got " + str(truth.shape[0]))
    a = observables(truth, sqrt_s, list(names))
    b = observables(samples, sqrt_s, list(names))
    return {name: {"model": distances(a[name], b[name], bins, weights), "floor": truth_floor(a[name], m, bins)}
            for name in a}


def format_comparison(table, figure="ks"):
    """A text table of one figure (w1, ks or chi2) beside its floor, and their ratio."""
    lines = ["%-16s %12s %12s %8s" % ("observable", figure, "floor", "ratio")]
    for name, row in table.items():
        model, floor = row["model"][figure], row["floor"][figure]
        ratio = model / floor if floor > 0 else float("inf")
        lines.append("%-16s %12.5g %12.5g %8.2f" % (name, model, floor, ratio))
    return "\n".join(lines)
