"""Reference values for Research.Analysis.Bootstrap's intervals, from scipy.stats.bootstrap.

scipy resamples with its own generator, so the replicates cannot be matched directly. Instead this
script draws B replicates with numpy, stores them, and hands the SAME replicates to
scipy.stats.bootstrap(n_resamples=0, bootstrap_result=...) for the percentile and BCa intervals and
the standard error. The F# tests feed the stored replicates to Bootstrap.percentileInterval /
Bootstrap.tryBcaInterval and compare.

Run with Debian 12's python3 (scipy 1.10.1, numpy 1.24.2):
    /usr/bin/python3 make_bootstrap_reference.py > bootstrap_scipy.json
"""
import json
import sys
from types import SimpleNamespace

import numpy as np
import scipy
from scipy import stats

STATISTICS = {
    "mean": lambda x, axis=-1: np.mean(x, axis=axis),
    "std_ddof1": lambda x, axis=-1: np.std(x, ddof=1, axis=axis),
    "median": lambda x, axis=-1: np.median(x, axis=axis),
}

CASES = [
    ("normal_n25_mean", "normal", 25, "mean", 0.95, 2000),
    ("exponential_n30_std", "exponential", 30, "std_ddof1", 0.95, 2000),
    ("lognormal_n40_median", "lognormal", 40, "median", 0.90, 1500),
    ("exponential_n12_mean", "exponential", 12, "mean", 0.99, 2500),
]


def draw(rng, dist, n):
    if dist == "normal":
        return rng.normal(1.0, 2.0, n)
    if dist == "exponential":
        return rng.exponential(1.5, n)
    if dist == "lognormal":
        return rng.lognormal(0.0, 0.8, n)
    raise ValueError(dist)


def main():
    rng = np.random.default_rng(20240611)
    out = {
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "python": sys.version.split()[0]},
        "notes": __doc__.strip(),
        "cases": [],
    }
    for name, dist, n, stat_name, level, b in CASES:
        x = draw(rng, dist, n)
        stat = STATISTICS[stat_name]
        idx = rng.integers(0, n, size=(b, n))
        reps = stat(x[idx], axis=-1)
        prior = SimpleNamespace(bootstrap_distribution=reps)
        case = {"name": name, "statistic": stat_name, "level": level, "x": x.tolist(),
                "replicates": reps.tolist(), "estimate": float(stat(x))}
        for method in ("percentile", "BCa"):
            res = stats.bootstrap((x,), stat, n_resamples=0, bootstrap_result=prior,
                                  confidence_level=level, method=method, vectorized=True)
            case[method] = {"low": float(res.confidence_interval.low),
                            "high": float(res.confidence_interval.high)}
            case["standard_error"] = float(res.standard_error)
        out["cases"].append(case)
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
