#!/usr/bin/env bash
# Runs every test from a fresh clone: restore tools and packages, build, fetch MNIST (tests that
# train on real data use it; without it they use generated batches), run each Expecto test
# project, and end with one line "N passed, N failed". Exits non-zero on any failure.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root" || exit 2
start=$(date +%s)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
echo "== restore and build"
dotnet tool restore >/dev/null || { echo "dotnet tool restore failed"; echo "0 passed, 1 failed"; exit 1; }
if ! dotnet build Research.sln -c Release -nologo -v quiet -clp:ErrorsOnly; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
echo "== data"
dotnet src/Research.Cli/bin/Release/net10.0/research.dll fetch-data || echo "warning: MNIST fetch failed; tests that need real MNIST fail saying so, the others use generated data"
passed=0; failed=0; status=0
for project in Research.Core.Tests Research.Analysis.Tests; do
  dll="tests/$project/bin/Release/net10.0/$project.dll"
  log="$(mktemp)"
  echo "== $project"
  dotnet "$dll" --colours 0 --no-spinner "$@" 2>&1 | tee "$log"
  code=${PIPESTATUS[0]}
  # Expecto writes counts of 1,000 and more with a thousands separator ("1,004 passed")
  line="$(grep -Eo '[0-9,]+ passed, [0-9,]+ ignored, [0-9,]+ failed, [0-9,]+ errored' "$log" | tail -n 1 | sed -E 's/([0-9]),([0-9])/\1\2/g')"
  if [ -z "$line" ]; then
    echo "$project: no Expecto summary (exit code $code)"; failed=$((failed + 1)); status=1
  else
    read -r p _ _ _ f _ e _ <<<"$(echo "$line" | tr -d ',')"
    passed=$((passed + p)); failed=$((failed + f + e))
  fi
  [ "$code" -ne 0 ] && status=1
  rm -f "$log"
done
[ "$failed" -gt 0 ] && status=1
echo "wall time: $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
exit $status
