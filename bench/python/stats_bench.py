"""The Python side of Research.Benchmarks: times the tools the notebook used on the SAME inputs
the .NET side wrote to a folder, and prints one JSON object on stdout.

    python3 stats_bench.py DATA_DIR REPEATS

Inputs (raw little-endian, written by Research.Benchmarks):
    sw.f32      float32 [100, 5120] row-major: 5120 series of length 100 (trace layout)
    p.f64       float64 [5120] p-values
    gmm.f64     float64 [51200] data for a 5-component mixture
    g.f64       float64 [100] one weight's gradient series for the ψ bootstrap

Workloads (median and minimum wall time over REPEATS runs after one warm-up):
    shapiro     scipy.stats.shapiro called once per series in a Python loop (what the notebook did)
    holm, bh    statsmodels multipletests(p, method="holm" / "fdr_bh")
    gmm         sklearn GaussianMixture(5, random_state=0).fit(x) (defaults: k-means init, n_init=1)
    psi_loop    vectorised NumPy bootstrap of ψ_t, B = 1000: one (B, T) index draw, then a loop over t
                of vector updates S = β S + g*², ψ = sqrt(c_t / S)
    psi_matmul  the same with the prefix sums as one matrix product (B×T)·(T×T)
"""
import json
import sys
import time
import warnings

import numpy as np
import scipy
import sklearn
import statsmodels
from scipy import stats
from sklearn.mixture import GaussianMixture
from statsmodels.stats.multitest import multipletests

BETA2 = 0.999
B = 1000


MINIMA = {}


def timed(fn, repeats, name=None):
    """Median wall time in ms (the minimum is kept in MINIMA[name])."""
    fn()  # warm-up
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    if name:
        MINIMA[name] = float(np.min(times))
    return float(np.median(times)), result


def psi_loop(g, rng):
    t_len = len(g)
    idx = rng.integers(0, t_len, size=(B, t_len))
    g2 = g[idx] ** 2
    c = -np.expm1(np.arange(1, t_len + 1) * np.log(BETA2)) / (1 - BETA2)
    s = np.zeros(B)
    psi = np.empty((B, t_len))
    for t in range(t_len):
        s = BETA2 * s + g2[:, t]
        psi[:, t] = np.sqrt(c[t] / s)
    return psi.mean(axis=0), psi.var(axis=0, ddof=1)


def psi_matmul(g, rng):
    t_len = len(g)
    idx = rng.integers(0, t_len, size=(B, t_len))
    g2 = g[idx] ** 2
    t = np.arange(t_len)
    w = np.where(t[:, None] >= t[None, :], BETA2 ** (t[:, None] - t[None, :]).clip(0), 0.0)
    s = g2 @ w.T
    c = -np.expm1(np.arange(1, t_len + 1) * np.log(BETA2)) / (1 - BETA2)
    psi = np.sqrt(c / s)
    return psi.mean(axis=0), psi.var(axis=0, ddof=1)


def main():
    data_dir, repeats = sys.argv[1], int(sys.argv[2])
    sw = np.fromfile(f"{data_dir}/sw.f32", dtype="<f4").reshape(100, 5120)
    p = np.fromfile(f"{data_dir}/p.f64", dtype="<f8")
    x = np.fromfile(f"{data_dir}/gmm.f64", dtype="<f8").reshape(-1, 1)
    g = np.fromfile(f"{data_dir}/g.f64", dtype="<f8")
    out = {"versions": {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
                        "statsmodels": statsmodels.__version__, "sklearn": sklearn.__version__}}

    ms, res = timed(lambda: [stats.shapiro(sw[:, j]) for j in range(sw.shape[1])], max(1, repeats // 5), "shapiro")
    out["shapiro"] = {"ms": ms, "W": [float(r[0]) for r in res], "p": [float(r[1]) for r in res]}

    for name, method in (("holm", "holm"), ("bh", "fdr_bh")):
        ms, res = timed(lambda: multipletests(p, alpha=0.05, method=method), repeats * 10, name)
        out[name] = {"ms": ms, "n_reject": int(res[0].sum())}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ms, gm = timed(lambda: GaussianMixture(5, random_state=0).fit(x), max(1, repeats // 2), "gmm")
    out["gmm"] = {"ms": ms, "mean_loglik": float(gm.score(x)), "n_iter": int(gm.n_iter_)}

    rng = np.random.default_rng(0)
    ms, (mean, var) = timed(lambda: psi_loop(g, rng), repeats * 5, "psi_loop")
    out["psi_loop"] = {"ms": ms, "var_last": float(var[-1])}
    ms, (mean, var) = timed(lambda: psi_matmul(g, rng), repeats * 5, "psi_matmul")
    out["psi_matmul"] = {"ms": ms, "var_last": float(var[-1])}
    for name, v in MINIMA.items():
        out[name]["min_ms"] = v
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
