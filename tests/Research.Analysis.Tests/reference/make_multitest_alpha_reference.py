"""statsmodels multipletests at levels other than 0.05, on the p-value vectors of
../shared/reference/multitest.json (which holds alpha = 0.05 only). Decisions, and the corrected
p-values of the two-stage FDR methods, depend on alpha. The n = 5120 vector is left out to keep
this file small (it is covered at alpha = 0.05 by the shared reference). Each vector stores its own
p-values ("p"), so the tests need nothing from the shared file and nothing is looked up by name.

Run with Debian 12's python3 (statsmodels 0.13.5, numpy 1.24.2), from this folder:
    /usr/bin/python3 make_multitest_alpha_reference.py /work/shared/reference/multitest.json > multitest_alpha.json
"""
import json
import sys

import numpy as np
import statsmodels
from statsmodels.stats.multitest import multipletests

METHODS = ["bonferroni", "sidak", "holm-sidak", "holm", "simes-hochberg", "hommel",
           "fdr_bh", "fdr_by", "fdr_tsbh", "fdr_tsbky", "fdr_gbs"]
ALPHAS = [0.01, 0.1, 0.25]


def main():
    src = json.load(open(sys.argv[1]))
    out = {"versions": {"statsmodels": statsmodels.__version__, "numpy": np.__version__},
           "notes": __doc__.strip(), "vectors": []}
    for v in src["vectors"]:
        if v["n"] > 1000:
            continue
        p = np.asarray(v["p"], dtype=float)
        entry = {"name": v["name"], "p": p.tolist(), "results": []}
        for alpha in ALPHAS:
            for m in METHODS:
                reject, corrected, sidak, bonf = multipletests(p, alpha=alpha, method=m)
                entry["results"].append({"alpha": alpha, "method": m,
                                         "reject": [bool(r) for r in reject],
                                         "pvals_corrected": corrected.tolist(),
                                         "alphacSidak": float(sidak), "alphacBonf": float(bonf)})
        out["vectors"].append(entry)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
