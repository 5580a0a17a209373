"""The Python side of Research.Benchmarks' mixture comparison on recorded traces: scikit-learn's
GaussianMixture on the SAME pooled gradients the .NET side fits, one request at a time, so that the
two sides' timings can be interleaved on a shared machine.

    python3 mixture_bench.py        (then one request per line on stdin, one JSON reply per line)

Requests:
    fit PATH K N_INIT REPEATS   fit GaussianMixture(K, n_init=N_INIT, random_state=0) (every other
                                argument at sklearn's default: k-means init, tol 1e-3, max_iter 100,
                                reg_covar 1e-6) REPEATS times to the float64 data in PATH (raw
                                little-endian); reply with the median and minimum wall time in ms,
                                the BIC, the mean log-likelihood, n_iter_, converged_ and the
                                Kolmogorov-Smirnov distance of the data to the fitted mixture's CDF
    fitz PATH K N_INIT REPEATS  the same on the standardised data (x - mean)/sd, i.e. with the variance
                                floor reg_covar * Var(x), the objective of our Standardize option; BIC
                                and KS in the data's units (BIC + 2 n log sd)
    versions                    reply with the versions of python, numpy, scipy and scikit-learn
    quit
"""
import time
import warnings

import numpy as np
import scipy
import sklearn
from scipy.special import ndtr
from sklearn.mixture import GaussianMixture

from worker import serve


def ks_distance(x_sorted, gm):
    """sup |F_n - F| at the sorted sample, as GaussianMixture.ksDistanceSorted computes it."""
    w = gm.weights_
    mu = gm.means_.ravel()
    sd = np.sqrt(gm.covariances_.ravel())
    f = (w[None, :] * ndtr((x_sorted[:, None] - mu[None, :]) / sd[None, :])).sum(axis=1)
    n = len(x_sorted)
    i = np.arange(n)
    return float(max(np.abs(f - (i + 1) / n).max(), np.abs(f - i / n).max()))


def fit(path, k, n_init, repeats, standardize=False):
    x = np.fromfile(path, dtype="<f8").reshape(-1, 1)
    shift = 0.0
    if standardize:
        sd = float(x.std())
        x = (x - x.mean()) / sd
        shift = 2 * len(x) * np.log(sd)
    times = []
    gm = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            t0 = time.perf_counter()
            gm = GaussianMixture(k, n_init=n_init, random_state=0).fit(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return {"ms": float(np.median(times)), "min_ms": float(np.min(times)), "bic": float(gm.bic(x)) + shift,
            "mean_loglik": float(gm.score(x)), "n_iter": int(gm.n_iter_), "converged": bool(gm.converged_),
            "ks": ks_distance(np.sort(x.ravel()), gm)}


def main():
    serve({"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__},
          {"fit": (4, lambda path, k, n_init, repeats: fit(path, int(k), int(n_init), int(repeats))),
           "fitz": (4, lambda path, k, n_init, repeats: fit(path, int(k), int(n_init), int(repeats), standardize=True))})


if __name__ == "__main__":
    main()
