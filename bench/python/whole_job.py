"""The Adam-vs-RAdam job as a researcher writes it in Python with the standard tools: the Python side
of bench/whole-job.sh. It does the notebook's five stages on MNIST and draws the notebook's figures,
printing each stage's wall time.

    /usr/bin/python3 whole_job.py --data DATA/mnist --out FOLDER [--seed 0]

Stages (the study's configuration, src/Research.Core/Studies/AdamVsRAdam/AdamVsRAdamCapture.cs and
src/Research.Analysis/Studies/AdamVsRAdam/GradientAnalysis.fs, AnalysisOptions.Default):
  1. training    PyTorch: the 784-512-512-10 ReLU MLP (default initialisation, the same seed for every
                 optimizer), MNIST from the IDX files with numpy, (x/255 - 0.1307)/0.3081, batch 128,
                 lr 1e-3, 469 steps (one epoch, a seeded permutation) for torch.optim.Adam,
                 torch.optim.RAdam and torch.optim.AdamW (weight decay 1e-2) with a LambdaLR linear
                 warmup over 100 steps; the 10x512 block fc3.weight.grad[:10, :512] copied to a numpy
                 array at each of the first 100 steps, loss and lr per step; test accuracy after
                 training; the arrays saved with np.save.
  2. shapiro     scipy.stats.shapiro per weight series (5,120 per run; constant series are not tested).
  3. multitest   statsmodels multipletests, holm and fdr_bh, over the tested weights of each run.
  4. mixtures    sklearn GaussianMixture(5, random_state=0) per neuron on its pooled gradients (the
                 neuron's non-constant series, every iteration): 10 neurons x 3 runs = 30 fits.
  5. bootstrap   the psi_t bootstrap in numpy (B = 1000, T = 100, resampling t gradients from the whole
                 series, as stats_bench.psi_loop) for up to 200 weights whose normality is rejected and
                 200 whose normality is not, per run.
  6. figures     matplotlib (Agg) PNGs: loss, lr, each run's per-neuron histograms with the mixture
                 density, each run's normalised psi variance (median, 10-90% band, theory), the three
                 runs side by side.

The last line of output is `RESULT {json}`: stage seconds, counts and versions, for the driver.
"""
import argparse
import json
import os
import sys
import time
import warnings

T0 = time.perf_counter()
STAGES = {}


def stage(name, start):
    seconds = time.perf_counter() - start
    STAGES[name] = seconds
    print(f"stage {name}: {seconds:.2f} s", flush=True)
    return time.perf_counter()


import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
import scipy  # noqa: E402
from scipy import stats  # noqa: E402
import statsmodels  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402
import sklearn  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from stats_bench import psi_loop  # noqa: E402  the NumPy ψ bootstrap (B = 1000, β₂ = 0.999) of the statistics benchmark

BETA2 = 0.999
B = 1000
ALPHA = 0.05
WEIGHTS_PER_GROUP = 200
RECORD = 100
STEPS = 469
BATCH = 128
LR = 1e-3
ROWS, COLS = 10, 512


def loaded_blas():
    """The BLAS and LAPACK libraries mapped into this process (after numpy and torch ran a product), read from
    /proc/self/maps; the Python extension modules that link them are left out."""
    a = np.ones((64, 64))
    _ = a @ a
    _ = torch.ones(64, 64) @ torch.ones(64, 64)
    names = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(path)
            if "dist-packages" not in path and any(k in base for k in ("blas", "lapack", "mkl", "dnnl")):
                names.add(os.path.realpath(path))
    return sorted(names)


def read_idx(path):
    """An IDX file (big-endian header: magic, dimension sizes) as a numpy array."""
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist(folder, split):
    images = read_idx(os.path.join(folder, f"{split}-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32)
    labels = read_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte")).astype(np.int64)
    x = (images / 255.0 - 0.1307) / 0.3081
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def train(label, x, y, xt, yt, seed):
    torch.manual_seed(seed)
    model = MLP()
    if label == "Adam":
        opt = torch.optim.Adam(model.parameters(), lr=LR)
    elif label == "RAdam":
        opt = torch.optim.RAdam(model.parameters(), lr=LR)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100)) if label == "AdamW+warmup" else None
    loss_fn = nn.CrossEntropyLoss()
    grads = np.empty((RECORD, ROWS * COLS), dtype=np.float32)
    losses = np.empty(STEPS)
    lrs = np.empty(STEPS)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    model.train()
    for step in range(STEPS):
        idx = order[step * BATCH:(step + 1) * BATCH]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        if step < RECORD:
            grads[step] = model.fc3.weight.grad[:ROWS, :COLS].numpy().reshape(-1)
        lrs[step] = opt.param_groups[0]["lr"]
        opt.step()
        if sched is not None:
            sched.step()
        losses[step] = loss.item()
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum()) for i in range(0, len(xt), 1000))
    return grads, losses, lrs, correct / len(xt)


def rho(t):
    rho_inf = 2 / (1 - BETA2) - 1
    return rho_inf - 2 * t * BETA2 ** t / (1 - BETA2 ** t), rho_inf


def multiplier(label, lrs):
    """m_t multiplying psi_t in the update: 1 (Adam), r_t (RAdam, NaN while rho_t <= 5), lr_t/lr (warmup)."""
    t = np.arange(1, RECORD + 1, dtype=float)
    if label == "RAdam":
        r, r_inf = rho(t)
        with np.errstate(invalid="ignore"):
            rt = np.sqrt((r - 4) * (r - 2) * r_inf / ((r_inf - 4) * (r_inf - 2) * r))
        return np.where(r > 5, rt, np.nan)
    if label == "AdamW+warmup":
        return lrs[:RECORD] / LR
    return np.ones(RECORD)


def theory(m):
    r, _ = rho(np.arange(1, RECORD + 1, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        v = r / (2 * (r - 2) * (r - 4))
    return np.where(r > 4, m * m * v, np.nan)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    blas = loaded_blas()
    print(f"python {sys.version.split()[0]}, torch {torch.__version__} ({torch.get_num_threads()} thread), numpy "
          f"{np.__version__}, scipy {scipy.__version__}, statsmodels {statsmodels.__version__}, sklearn {sklearn.__version__}")
    print("BLAS/LAPACK loaded: " + ", ".join(blas))
    labels = ["Adam", "RAdam", "AdamW+warmup"]
    now = stage("imports", T0)

    x, y = mnist(a.data, "train")
    xt, yt = mnist(a.data, "t10k")
    runs = {}
    for label in labels:
        grads, losses, lrs, acc = train(label, x, y, xt, yt, a.seed)
        runs[label] = {"grads": grads, "loss": losses, "lr": lrs, "accuracy": acc}
        np.save(os.path.join(a.out, f"{label}-grad.npy"), grads)
        np.save(os.path.join(a.out, f"{label}-loss.npy"), losses)
        np.save(os.path.join(a.out, f"{label}-lr.npy"), lrs)
        print(f"  {label}: final loss {losses[-1]:.4f}, test accuracy {100 * acc:.2f}%", flush=True)
    now = stage("training", now)

    for label in labels:
        g = runs[label]["grads"]
        tested = np.flatnonzero(np.ptp(g, axis=0) > 0)
        p = np.array([stats.shapiro(g[:, j])[1] for j in tested])
        runs[label].update(tested=tested, p=p)
    now = stage("shapiro", now)

    for label in labels:
        p = runs[label]["p"]
        runs[label]["holm"] = int(multipletests(p, alpha=ALPHA, method="holm")[0].sum())
        runs[label]["bh"] = int(multipletests(p, alpha=ALPHA, method="fdr_bh")[0].sum())
        print(f"  {label}: {int((p <= ALPHA).sum())}/{len(p)} rejected at alpha = {ALPHA}; Holm {runs[label]['holm']}, "
              f"BH {runs[label]['bh']} ({ROWS * COLS - len(p)} constant)")
    now = stage("multitest", now)

    for label in labels:
        g = runs[label]["grads"]
        mixtures = []
        for n in range(ROWS):
            block = g[:, n * COLS:(n + 1) * COLS]
            pooled = block[:, np.ptp(block, axis=0) > 0].reshape(-1).astype(np.float64)
            mixtures.append((pooled, GaussianMixture(5, random_state=0).fit(pooled.reshape(-1, 1))))
        runs[label]["mixtures"] = mixtures
    now = stage("mixtures", now)

    rng = np.random.default_rng(a.seed)
    for label in labels:
        r = runs[label]
        m = multiplier(label, r["lr"])
        r["m"], r["theory"] = m, theory(m)
        rejected = r["p"] <= ALPHA
        for group, members in (("normal", r["tested"][~rejected]), ("non-normal", r["tested"][rejected])):
            chosen = rng.choice(members, size=min(WEIGHTS_PER_GROUP, len(members)), replace=False)
            curves = []
            for w in chosen:
                g = r["grads"][:, w].astype(np.float64)
                with np.errstate(divide="ignore", invalid="ignore"):  # a resampled prefix of zeros: psi = inf, dropped
                    _, var = psi_loop(g, rng)
                if np.all(np.isfinite(var)):
                    curves.append(m * m * var * np.mean(g * g))
            r[group] = np.array(curves).reshape(-1, RECORD)
        print(f"  {label}: psi variance for {len(r['normal'])} normal and {len(r['non-normal'])} non-normal weights")
    now = stage("bootstrap", now)

    figures(runs, labels, a.out)
    now = stage("figures", now)

    result = {"stages": STAGES, "total": time.perf_counter() - T0, "blas": blas,
              "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
                           "scipy": scipy.__version__, "statsmodels": statsmodels.__version__,
                           "sklearn": sklearn.__version__},
              "runs": {label: {"tested": int(len(runs[label]["p"])), "rejected": int((runs[label]["p"] <= ALPHA).sum()),
                               "holm": runs[label]["holm"], "bh": runs[label]["bh"],
                               "final_loss": float(runs[label]["loss"][-1]), "accuracy": runs[label]["accuracy"],
                               "normal": len(runs[label]["normal"]), "non_normal": len(runs[label]["non-normal"])}
                       for label in labels}}
    print("RESULT " + json.dumps(result), flush=True)


def figures(runs, labels, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    warnings.filterwarnings("ignore", "All-NaN slice")  # RAdam's m_t is NaN for t <= 5 (psi_t unused)

    it = np.arange(1, STEPS + 1)
    for key, ylabel in (("loss", "training loss"), ("lr", "learning rate")):
        fig, ax = plt.subplots(figsize=(11, 4.2))
        for label in labels:
            ax.plot(it, runs[label][key], label=label, lw=1)
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        ax.legend()
        fig.savefig(os.path.join(out, f"{key}.png"), dpi=100)
        plt.close(fig)
    t = np.arange(1, RECORD + 1)
    for label in labels:
        fig, axes = plt.subplots(2, 5, figsize=(15, 6))
        for n, (ax, (pooled, gm)) in enumerate(zip(axes.flat, runs[label]["mixtures"])):
            lo, hi = np.quantile(pooled, [0.005, 0.995])
            ax.hist(pooled, bins=80, range=(lo, hi), density=True, alpha=0.6)
            grid = np.linspace(lo, hi, 400)
            ax.plot(grid, np.exp(gm.score_samples(grid.reshape(-1, 1))), "r", lw=1)
            ax.set_title(f"neuron {n}")
        fig.suptitle(f"{label}: pooled gradients per output neuron, 5-component mixture")
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"{label}-mixtures.png"), dpi=100)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(11, 4.6))
        for group in ("normal", "non-normal"):
            curves = runs[label][group]
            if len(curves) == 0:
                continue
            q10, q50, q90 = np.nanquantile(curves, [0.1, 0.5, 0.9], axis=0)
            ax.plot(t, q50, label=f"{group} (median of {len(curves)})")
            ax.fill_between(t, q10, q90, alpha=0.25)
        ax.plot(t, runs[label]["theory"], "k--", label="theory")
        ax.set_yscale("log")
        ax.set_xlabel("iteration t")
        ax.set_ylabel("normalised Var*[m_t psi_t]")
        ax.legend()
        fig.savefig(os.path.join(out, f"{label}-psi-variance.png"), dpi=100)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(11, 4.8))
    for label in labels:
        curves = np.vstack([runs[label]["normal"], runs[label]["non-normal"]])
        q10, q50, q90 = np.nanquantile(curves, [0.1, 0.5, 0.9], axis=0)
        ax.plot(t, q50, label=label)
        ax.fill_between(t, q10, q90, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("iteration t")
    ax.set_ylabel("normalised variance of the adaptive learning rate")
    ax.legend()
    fig.savefig(os.path.join(out, "comparison.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
