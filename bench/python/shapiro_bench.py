"""The Python side of Research.Benchmarks' Shapiro-Wilk comparison by sample size: scipy's
per-series loop on the SAME float32 matrix the .NET side tests, one request at a time, so that the
two sides' timings can be interleaved on a shared machine.

    python3 shapiro_bench.py        (then one request per line on stdin, one JSON reply per line)

Requests:
    shapiro PATH ROWS COLS REPEATS  scipy.stats.shapiro on each of the COLS columns of the row-major
                                    float32 [ROWS, COLS] matrix in PATH (raw little-endian), in a Python
                                    loop (what the notebook did), REPEATS times; reply with the median
                                    and minimum wall time in ms
    versions                        reply with the versions of python, numpy and scipy
    quit
"""
import time
import warnings

import numpy as np
import scipy
from scipy import stats

from worker import serve


def shapiro(path, rows, cols, repeats):
    x = np.fromfile(path, dtype="<f4").reshape(rows, cols)
    columns = [x[:, j] for j in range(cols)]
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n > 5000 warnings
        for _ in range(repeats):
            t0 = time.perf_counter()
            for c in columns:
                stats.shapiro(c)
            times.append((time.perf_counter() - t0) * 1e3)
    return {"ms": float(np.median(times)), "min_ms": float(np.min(times))}


def main():
    serve({"numpy": np.__version__, "scipy": scipy.__version__},
          {"shapiro": (4, lambda path, rows, cols, repeats: shapiro(path, int(rows), int(cols), int(repeats)))})


if __name__ == "__main__":
    main()
