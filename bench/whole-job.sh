#!/usr/bin/env bash
# One benchmark for the whole job: the toolkit's Adam-vs-RAdam study (quick tier, as
# `./run.sh adam-vs-radam` runs it) against the same job in Python (bench/python/whole_job.py) on
# Debian's reference BLAS and on OpenBLAS, one thread each, interleaved round by round.
#
#   bench/whole-job.sh [--rounds R] [--no-build] [--keep]
#
#   --rounds R   rounds (default 5); each runs toolkit, py-ref, py-openblas, the order reversed
#                every other round
#   --no-build   use the built command line as it is (default: dotnet build Research.sln -c Release)
#   --keep       keep the work folder (logs, traces, reports, PNGs); default: keep only the logs
#
# Prints each run's stage times as it ends, then (bench/python/whole_job_table.py) a table per
# round, the medians, the ratios toolkit / Python with and without the browser check, the
# per-stage medians and the Shapiro–Wilk counts of both sides. Nothing under reports/ is touched:
# every output goes to a fresh folder under /tmp.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=5 build=1 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --keep) keep=1; shift ;;
    *) echo "usage: bench/whole-job.sh [--rounds R] [--no-build] [--keep]; got '$1'" >&2; exit 2 ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "--rounds: expected a whole number ≥ 1, got '$rounds'" >&2; exit 2; }

py=/usr/bin/python3
cli="$root/src/Research.Cli/bin/Release/net10.0/research.dll"
lib=/usr/lib/x86_64-linux-gnu
ref_blas="$lib/blas:$lib/lapack"         # Debian's reference BLAS and LAPACK (netlib)
openblas="$lib/openblas-pthread"          # libopenblas0-pthread's libblas.so.3 and liblapack.so.3
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if [ "$build" = 1 ]; then
  echo "== build (dotnet build Research.sln -c Release)"
  (cd "$root" && dotnet build Research.sln -c Release -nologo -v quiet -clp:ErrorsOnly >/dev/null)
fi
[ -f "$cli" ] || { echo "no $cli: build first (dotnet build Research.sln -c Release)" >&2; exit 1; }
if ! $py -c "import torch, scipy, statsmodels, sklearn, matplotlib" 2>/dev/null || [ ! -e "$openblas/libblas.so.3" ]; then
  echo "== setup (bench/python/setup.sh)"
  bash "$root/bench/python/setup.sh"
fi
for d in "$lib/blas" "$lib/lapack" "$openblas"; do
  ls "$d"/lib*.so.3 >/dev/null 2>&1 || { echo "$d holds no libblas.so.3 / liblapack.so.3" >&2; exit 1; }
done

work="$(mktemp -d /tmp/whole-job.XXXXXX)"
echo "== $rounds round(s); work folder $work"
echo "   machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# One thread everywhere: libtorch (OpenMP) and the BLAS libraries by their variables; the toolkit's
# analysis threads (Work.run: Environment.ProcessorCount helpers) by DOTNET_PROCESSOR_COUNT=1;
# PyTorch by torch.set_num_threads(1) inside whole_job.py as well.
one_thread=(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1)

stamp() { while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }

run_side() {  # round side
  local r="$1" side="$2" base="$work/r$1-$2" load
  load="$(cut -d' ' -f1 /proc/loadavg)"
  case "$side" in
    toolkit) cmd=(env "${one_thread[@]}" DOTNET_PROCESSOR_COUNT=1 RESEARCH_DATA="$root/data"
                  dotnet "$cli" adam-vs-radam --out "$base.out") ;;
    py-ref) cmd=(env "${one_thread[@]}" LD_LIBRARY_PATH="$ref_blas"
                 $py "$root/bench/python/whole_job.py" --data "$root/data/mnist" --out "$base.out") ;;
    py-openblas) cmd=(env "${one_thread[@]}" LD_LIBRARY_PATH="$openblas"
                      $py "$root/bench/python/whole_job.py" --data "$root/data/mnist" --out "$base.out") ;;
  esac
  # every output line prefixed with the time it arrived ($EPOCHREALTIME): the toolkit prints one line
  # per analysis stage, so its Shapiro–Wilk, mixture and bootstrap times can be read from the log
  set +e
  /usr/bin/time -f "%e %M" -o "$base.time" "${cmd[@]}" 2>&1 | stamp >"$base.log"
  local status="${PIPESTATUS[0]}"
  set -e
  [ "$status" = 0 ] || { echo "round $r $side failed (exit $status); log: $base.log" >&2; tail -20 "$base.log" >&2; exit 1; }
  read -r wall rss <"$base.time"
  if [ "$side" = toolkit ]; then
    threads="$(grep -ho '"threads": *[0-9]*' "$base.out"/adam-vs-radam/seed-*/traces/Adam/manifest.json | head -1 | grep -o '[0-9]*$')"
    echo "   round $r toolkit     ${wall} s, peak RSS $((rss / 1024)) MiB, load ${load} at start, libtorch threads ${threads:-?}; $(grep -o 'time: .*' "$base.log" | tail -1)"
  else
    echo "   round $r $(printf '%-11s' "$side") ${wall} s, peak RSS $((rss / 1024)) MiB, load ${load} at start; $(grep -o 'stage .*' "$base.log" | sed 's/^stage //' | paste -sd';' | sed 's/;/; /g')"
  fi
  [ "$keep" = 1 ] || rm -rf "$base.out"
}

for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order=(toolkit py-ref py-openblas); else order=(py-openblas py-ref toolkit); fi
  for side in "${order[@]}"; do run_side "$r" "$side"; done
done
echo "   load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"

$py "$root/bench/python/whole_job_table.py" "$work"
cat <<'EOF'

Work that differs (see bench/README.md): the study fits k = 1…5 mixtures per neuron with 10 short
k-means++ restarts and a SQUAREM refinement (150 fits of 10 starts) where the Python side fits one
GaussianMixture(5, random_state=0) per neuron (30 fits, sklearn's defaults); the study also runs the
notebook's first-t ψ bootstrap for 50 weights per group beside the whole-series one, records fc3's
exp_avg_sq block, writes CSVs, an offline HTML report (10 Plotly charts) and
result hashes; the Python side writes 9 matplotlib PNGs and the .npy arrays.
EOF
echo "logs: $work"
