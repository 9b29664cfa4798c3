#!/usr/bin/env bash
# The README's test command: configure, build and run the tests of a CMake preset (default ci),
# then list every skipped test with its reason, pytest's skips inside Python.pytest included
# (ctest's own summary names skipped tests without reasons). Exits with the workflow's status.
#   scripts/run_tests.sh [PRESET]
set -uo pipefail
cd "$(dirname "$0")/.."
preset=${1:-ci}
cmake --workflow --preset "$preset"
rc=$?
dir=$(python3 -c 'import json, sys
p = json.load(open("CMakePresets.json"))["configurePresets"]
by = {x["name"]: x for x in p}
x = by[sys.argv[1]]
while "binaryDir" not in x and x.get("inherits"):
    x = by[x["inherits"] if isinstance(x["inherits"], str) else x["inherits"][0]]
print(x.get("binaryDir", "${sourceDir}/build/${presetName}").replace("${sourceDir}/", "")
      .replace("${presetName}", sys.argv[1]))' "$preset")
echo
python3 scripts/ctest_skips.py "$dir" || true
exit $rc
