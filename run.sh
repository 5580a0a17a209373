#!/usr/bin/env bash
# The main job, from a fresh clone: restore the local tools and packages, build, make sure MNIST is
# in data/ (outside git; fetched once), then run the toolkit's command line with your arguments:
#   ./run.sh                  every study at the quick tier, then reports/index.html
#   ./run.sh <study> [...]    one study (./run.sh list; ./run.sh <study> --help)
# Relative paths in the arguments are relative to the folder you run it from. The last step
# replaces this shell (exec), so stopping this process stops the work.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
cli="$root/src/Research.Cli/bin/Release/net10.0/research.dll"
(
  cd "$root"
  echo "== restore and build"
  dotnet tool restore >/dev/null
  dotnet build Research.sln -c Release -nologo -v quiet -clp:ErrorsOnly
)
case "${1:-}" in
  list|verify|help|--help|-h|fetch-data) ;;
  *) echo "== data"; dotnet "$cli" fetch-data ;;
esac
exec dotnet "$cli" "$@"
