#!/usr/bin/env python3
"""Prints why each skipped test of the last ctest run in BUILD_DIR was skipped, grouped by reason.

ctest's summary lists skipped tests without their reasons (they are only in the verbose output);
.ci/run prints this after each run.   ctest_skips.py BUILD_DIR
"""
import collections
import pathlib
import re
import sys


def skips(log_text):
    """(test name, reason) for every test whose pass reason is the skip expression."""
    for block in log_text.split("\n----------------------------------------------------------\n\n"):
        m = re.search(r"^\d+/\d+ Test: (.+)$", block, re.M)
        if not m or "Skip regular expression found in output" not in block:
            continue
        out = block.split("Output:\n", 1)[-1].split("<end of output>", 1)[0]
        reason = None
        g = re.search(r": Skipped\n(.+)", out)  # GoogleTest: the line after "file:line: Skipped"
        if g:
            reason = g.group(1).strip()
        else:
            s = re.search(r"SKIPPED:\s*(.+)", out)  # the scripts' "SKIPPED: reason"
            reason = s.group(1).strip() if s else "(no reason given)"
        yield m.group(1).strip(), reason


def main():
    build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build/ci")
    log = build / "Testing" / "Temporary" / "LastTest.log"
    if not log.exists():
        print(f"ctest_skips.py: no {log}; run ctest first")
        return 1
    by_reason = collections.defaultdict(list)
    for name, reason in skips(log.read_text(errors="replace")):
        by_reason[reason].append(name)
    total = sum(len(v) for v in by_reason.values())
    print(f"Skipped: {total} test(s)" + (", by reason:" if total else ""))
    for reason, names in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(names[:3]) + (f", ... ({len(names) - 3} more)" if len(names) > 3 else "")
        print(f"  {len(names):4d}  {reason}\n        {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
