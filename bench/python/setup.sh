#!/usr/bin/env bash
# Installs what bench/python/whole_job.py needs on Debian 12 (root): PyTorch 1.13 (python3-torch),
# scipy, statsmodels, scikit-learn, matplotlib and the pthread OpenBLAS. Run by bench/whole-job.sh
# when a module or the OpenBLAS directory is missing; safe to run again.
#
# Installing libopenblas0-pthread registers it as the libblas.so.3 / liblapack.so.3 alternative with
# a higher priority than the reference BLAS, which would switch every process on the machine to
# OpenBLAS. The benchmark selects the BLAS per process (LD_LIBRARY_PATH) instead, so this script
# notes both alternatives before installing and puts them back if the install changed them.
set -euo pipefail
packages=(python3-torch python3-numpy python3-scipy python3-statsmodels python3-sklearn python3-matplotlib
          libopenblas0-pthread)
alternatives=(libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu)
current() { update-alternatives --query "$1" 2>/dev/null | awk '/^Value:/ {print $2}'; }
declare -A before
for a in "${alternatives[@]}"; do before[$a]="$(current "$a")"; done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all of ${packages[*]} are installed"
else
  echo "setup: installing ${missing[*]} (apt-get install -y --no-install-recommends; dependencies as apt lists them)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y --no-install-recommends "${missing[@]}" | grep -E '^(Setting up|Unpacking) ' || true
fi

for a in "${alternatives[@]}"; do
  now="$(current "$a")"
  if [ -n "${before[$a]}" ] && [ "$now" != "${before[$a]}" ]; then
    echo "setup: $a changed to $now by the install; restoring ${before[$a]} (the benchmark picks the BLAS per process)"
    update-alternatives --quiet --set "$a" "${before[$a]}"
  fi
  echo "setup: $a -> $(current "$a")"
done
test -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 \
  || { echo "setup: /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 is missing after the install" >&2; exit 1; }
for p in "${packages[@]}"; do dpkg-query -W -f='setup: ${Package} ${Version}\n' "$p"; done
