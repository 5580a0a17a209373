#!/usr/bin/env bash
# The main job, from a fresh clone: restore the local tools and packages, build, fetch MNIST
# into data/ (outside git), then run the study script. Extra arguments go to the script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
echo "== restore and build"
dotnet tool restore >/dev/null
dotnet build Research.sln -c Release -nologo -v quiet -clp:ErrorsOnly
echo "== data"
dotnet fsi scripts/fetch-mnist.fsx
echo "== study: Adam vs RAdam"
dotnet fsi scripts/adam-vs-radam.fsx "$@"
