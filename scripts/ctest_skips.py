#!/usr/bin/env python3
"""Prints why each skipped test of the last ctest run in BUILD_DIR was skipped, grouped by reason,
pytest's skips inside a ctest test (Python.pytest) included.

ctest's summary lists skipped tests without their reasons (they are only in the verbose output),
and a pytest run is one ctest test that passes with its skips inside it; scripts/run_tests.sh
prints this after the suite.   ctest_skips.py BUILD_DIR
"""
import collections
import pathlib
import re
import sys

# pytest -rs: "SKIPPED [3] tests/python/test_gpu.py:45: no GPU (...)"
PYTEST_SKIP = re.compile(r"^SKIPPED \[(\d+)\] ([^\s:]+(?::\d+)?): (.+)$", re.M)


def blocks(log_text):
    """(test name, block) for every test in ctest's log."""
    for block in log_text.split("\n----------------------------------------------------------\n\n"):
        m = re.search(r"^\d+/\d+ Test: (.+)$", block, re.M)
        if m:
            yield m.group(1).strip(), block


def output_of(block):
    return block.split("Output:\n", 1)[-1].split("<end of output>", 1)[0]


def skips(log_text):
    """(test name, reason) for every ctest test whose pass reason is the skip expression."""
    for name, block in blocks(log_text):
        if "Skip regular expression found in output" not in block:
            continue
        out = output_of(block)
        g = re.search(r": Skipped\n(.+)", out)  # GoogleTest: the line after "file:line: Skipped"
        if g:
            reason = g.group(1).strip()
        else:
            s = re.search(r"SKIPPED:\s*(.+)", out)  # the scripts' "SKIPPED: reason"
            reason = s.group(1).strip() if s else "(no reason given)"
        yield name, reason


def pytest_skips(log_text):
    """(ctest test name, where, count, reason) for every pytest skip line (-rs) in a test that ran
    pytest, whether it passed or failed."""
    for name, block in blocks(log_text):
        if "Skip regular expression found in output" in block:
            continue  # the whole test skipped: listed by skips()
        for m in PYTEST_SKIP.finditer(output_of(block)):
            yield name, m.group(2), int(m.group(1)), m.group(3).strip()


def main():
    build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build/ci")
    log = build / "Testing" / "Temporary" / "LastTest.log"
    if not log.exists():
        print(f"ctest_skips.py: no {log}; run ctest first")
        return 1
    text = log.read_text(errors="replace")
    by_reason = collections.defaultdict(list)
    for name, reason in skips(text):
        by_reason[reason].append(name)
    total = sum(len(v) for v in by_reason.values())
    print(f"Skipped: {total} ctest test(s)" + (", by reason:" if total else ""))
    for reason, names in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(names[:3]) + (f", ... ({len(names) - 3} more)" if len(names) > 3 else "")
        print(f"  {len(names):4d}  {reason}\n        {shown}")
    inside = collections.defaultdict(lambda: collections.defaultdict(list))
    for test, where, count, reason in pytest_skips(text):
        inside[test][reason].append((where, count))
    for test, reasons in inside.items():
        n = sum(c for places in reasons.values() for _, c in places)
        print(f"Skipped inside {test} (pytest): {n} test(s), by reason:")
        for reason, places in sorted(reasons.items(), key=lambda kv: -sum(c for _, c in kv[1])):
            count = sum(c for _, c in places)
            wheres = [w for w, _ in places]
            shown = ", ".join(wheres[:3]) + (f", ... ({len(wheres) - 3} more places)"
                                             if len(wheres) > 3 else "")
            print(f"  {count:4d}  {reason}\n        {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
