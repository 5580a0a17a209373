"""Both bootstrap schemes of the variance of Adam's adaptive learning rate psi_t, in numpy, for the
statistical check of Bootstrap.psiCurve (whole series) and Bootstrap.psiCurveFirstT (the notebook's).

    psi_t = sqrt((1 - b^t) / ((1 - b) * sum_{i=1..t} b^(t-i) g_i^2)),  b = beta2

Schemes (B resamples each, numpy's default_rng(seed) generator):
  whole_series  one draw of T indices from all of g_1..g_T per resample; psi_t on its first t draws,
                t = 1..T: estimates Var[psi_t] for t independent draws from the whole window's
                gradients (Liu et al.'s setting)
  first_t       for each t afresh, t indices drawn from the first t gradients g_1..g_t only (the
                notebook: np.random.choice(g[:t], t)): the sampling variability of psi_t computed
                from the gradients seen up to t
For each t the file stores the replicates' mean, variance (ddof 1) and central fourth moment m4, so
a test can judge a difference of two independent estimates of the variance statistically: the
standard error of a variance from B replicates is about sqrt((m4 - var^2) / B).

Run with Debian 12's python3 (numpy 1.24.2), from this folder:
    /usr/bin/python3 make_psi_bootstrap_reference.py > psi_bootstrap_numpy.json
"""
import json
import sys

import numpy as np

BETA2 = 0.999
B = 20000
T = 60


def psi_constants(t_len):
    t = np.arange(1, t_len + 1)
    return -np.expm1(t * np.log(BETA2)) / (1 - BETA2)


def summary(psi):
    """Per column: mean, variance (ddof 1), central fourth moment."""
    mean = psi.mean(axis=0)
    dev = psi - mean
    return mean.tolist(), psi.var(axis=0, ddof=1).tolist(), (dev ** 4).mean(axis=0).tolist()


def whole_series(g, rng):
    g2 = g ** 2
    idx = rng.integers(0, len(g), size=(B, len(g)))
    c = psi_constants(len(g))
    s = np.zeros(B)
    psi = np.empty((B, len(g)))
    for t in range(len(g)):
        s = BETA2 * s + g2[idx[:, t]]
        psi[:, t] = np.sqrt(c[t] / s)
    return summary(psi)


def first_t(g, rng):
    g2 = g ** 2
    c = psi_constants(len(g))
    psi = np.empty((B, len(g)))
    for t in range(1, len(g) + 1):
        idx = rng.integers(0, t, size=(B, t))
        w = BETA2 ** np.arange(t - 1, -1, -1)
        psi[:, t - 1] = np.sqrt(c[t - 1] / (g2[idx] * w).sum(axis=1))
    return summary(psi)


def main():
    gen = np.random.default_rng(20240611)
    series = {
        "normal": 0.01 * gen.standard_normal(T),
        "heavy_t3": 0.01 * gen.standard_t(3, T),
        "drifting": 0.01 * gen.standard_normal(T) + np.linspace(0.0, 0.03, T),
    }
    out = {"versions": {"numpy": np.__version__}, "notes": __doc__.strip(), "beta2": BETA2, "resamples": B, "series": []}
    for k, (name, g) in enumerate(series.items()):
        entry = {"name": name, "g": g.tolist()}
        for scheme, fn in (("whole_series", whole_series), ("first_t", first_t)):
            mean, var, m4 = fn(g, np.random.default_rng(100 + k))
            entry[scheme] = {"mean": mean, "var": var, "m4": m4}
        out["series"].append(entry)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
