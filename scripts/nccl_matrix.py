#!/usr/bin/env python3
"""NCCL release matrix: fetch real NCCL releases from PyPI (nvidia-nccl-cu12) and check ncclrt
against each on the CPU.

    scripts/nccl_matrix.py fetch [--all | VERSION ...]     download and cache lib + header
    scripts/nccl_matrix.py check --build DIR [--all | VERSION ...] [--doc docs/compatibility.md]

--all means the newest patch release of every minor version from 2.18 on that PyPI has.
Downloads are cached in $NCCLRT_MATRIX_CACHE (default ~/.cache/ncclrt-matrix): per release only
libnccl.so.2, nccl.h and the device API's headers (nccl_device.h, nccl_device/) are kept.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "nvidia-nccl-cu12"
FUNCTIONS_DEF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "include", "ncclrt", "detail", "nccl_functions.def")
CACHE = os.environ.get("NCCLRT_MATRIX_CACHE", os.path.expanduser("~/.cache/ncclrt-matrix"))


def available_versions():
    """Every version of the package on PyPI, from pip's own resolver message."""
    out = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d",
                          tempfile.gettempdir(), f"{PACKAGE}==0.0.0"],
                         capture_output=True, text=True).stderr
    m = re.search(r"from versions: ([^)]*)\)", out)
    if not m:
        sys.exit(f"cannot list {PACKAGE} versions on PyPI:\n{out}")
    return [v.strip() for v in m.group(1).split(",") if re.fullmatch(r"\d+\.\d+\.\d+", v.strip())]


def key(v):
    return tuple(int(x) for x in v.split("."))


def newest_per_minor(versions, since=(2, 18)):
    best = {}
    for v in versions:
        k = key(v)
        if k[:2] >= since and (k[:2] not in best or k > key(best[k[:2]])):
            best[k[:2]] = v
    return [best[m] for m in sorted(best)]


def fetch(version):
    """Returns the cache folder holding libnccl.so.2, nccl.h and (2.28 on) the device API's
    headers of `version`."""
    folder = os.path.join(CACHE, version)
    lib, header = os.path.join(folder, "libnccl.so.2"), os.path.join(folder, "nccl.h")
    done = os.path.join(folder, ".device-headers")  # a folder cached before they were kept
    if os.path.exists(lib) and os.path.exists(header) and os.path.exists(done):
        return folder
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                            f"{PACKAGE}=={version}"], capture_output=True, text=True)
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if r.returncode != 0 or not wheels:
            raise RuntimeError(f"pip could not download {PACKAGE}=={version}: {r.stderr.strip()}")
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as z:
            include = "nvidia/nccl/include/"
            device = [n for n in z.namelist() if n.startswith(include + "nccl_device")
                      and not n.endswith("/")]
            for name, dest in [("nvidia/nccl/lib/libnccl.so.2", lib), (include + "nccl.h", header)] + \
                    [(n, os.path.join(folder, n[len(include):])) for n in device]:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with z.open(name) as src, open(dest + ".part", "wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                os.replace(dest + ".part", dest)
    open(done, "w").close()
    return folder


def header_functions(header):
    """Host functions nccl.h declares (the p-prefixed profiling names left out), and from 2.29.2
    on those of the device API's host side in nccl_device/ (2.28's were another,
    unversioned form that ncclrt does not bind)."""
    text = re.sub(r"/\*.*?\*/", "", open(header).read(), flags=re.S)
    names = re.findall(r"^\s*(?:ncclResult_t|const char\s*\*)\s+(nccl\w+)\s*\(", text, flags=re.M)
    # 2.29-2.31 declare them in nccl_device/core.h (`__host__ ncclResult_t ...`), 2.32 in
    # nccl_device/host.h (`NCCL_EXTERN_C ncclResult_t ...`). Only the ones ncclrt's table lists
    # count: the rest of the device API (2.32's requirement builders and LE queries among them)
    # is left out of the table on purpose, as its comment says.
    listed = set(re.findall(r"^NCCLRT_FN\((nccl\w+),", open(FUNCTIONS_DEF).read(), flags=re.M))
    for part in ("core.h", "host.h"):
        path = os.path.join(os.path.dirname(header), "nccl_device", part)
        if header_version(header) >= 22902 and os.path.exists(path):
            found = re.findall(r"(?:__host__|NCCL_EXTERN_C)\s+ncclResult_t\s+(nccl\w+)\s*\(",
                               open(path).read())
            names += [n for n in found if n in listed]
    return sorted(set(names))


def abi_check(folder, build):
    """Compiles tests/unit/abi_check.hpp against this release's nccl.h; returns "" or the error."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cuda = os.environ.get("CUDA_HOME", "/usr/local/cuda")
    cmd = ["c++", "-std=c++17", "-fsyntax-only", "-x", "c++", "-",
           "-I" + folder, "-I" + os.path.join(cuda, "include"), "-I" + os.path.join(root, "include"),
           "-I" + os.path.join(root, "tests", "unit"),
           "-I" + os.path.join(build, "tests", "generated")]
    r = subprocess.run(cmd, input='#include "abi_check.hpp"\n', capture_output=True, text=True)
    if r.returncode == 0:
        return ""
    errors = [l for l in r.stderr.splitlines() if "error" in l]
    return "; ".join(errors[:3]) or r.stderr[-300:]


def header_version(header):
    return int(re.search(r"#define NCCL_VERSION_CODE (\d+)", open(header).read()).group(1))


def resolve(args):
    if args.all:
        versions = newest_per_minor(available_versions())
    else:
        versions = args.versions
    if not versions:
        sys.exit("no versions given (use --all or list them)")
    return versions


def cmd_fetch(args):
    for v in resolve(args):
        try:
            print(f"{v}: {fetch(v)}")
        except RuntimeError as e:
            print(f"{v}: skipped: {e}")


def cmd_check(args):
    checker = os.path.join(args.build, "tests", "ncclrt_matrix_check")
    if not os.path.exists(checker):
        sys.exit(f"{checker} not found: build the tests first")
    rows, failed = [], []
    for v in resolve(args):
        try:
            folder = fetch(v)
        except RuntimeError as e:
            print(f"== {v}: skipped: {e}")
            rows.append({"version": v, "skipped": str(e)})
            continue
        header = os.path.join(folder, "nccl.h")
        declared = header_functions(header)
        abi = abi_check(folder, args.build)
        env = dict(os.environ, NCCLRT_NCCL_LIB=os.path.join(folder, "libnccl.so.2"))
        r = subprocess.run([checker, str(header_version(header)), ",".join(declared)], env=env,
                           capture_output=True, text=True, timeout=300)
        try:
            result = json.loads(r.stdout)
        except json.JSONDecodeError:
            result = {"ok": False, "problems": [f"checker output unreadable: {r.stdout[-500:]}"
                                                 f"{r.stderr[-500:]}"]}
        result["version"] = v
        result["abi"] = "ok" if not abi else "FAILED"
        if abi:
            result["ok"] = False
            result.setdefault("problems", []).append("ABI check: " + abi)
        rows.append(result)
        status = "ok" if result.get("ok") else "FAILED"
        print(f"== {v}: {status}")
        for p in result.get("problems", []):
            print(f"   - {p}")
        if not result.get("ok"):
            failed.append(v)
    if args.doc:
        write_doc(args.doc, rows, " ".join(["scripts/nccl_matrix.py"] + sys.argv[1:]))
        print(f"wrote {args.doc}")
    if args.compare_doc:
        stale = compare_doc(args.compare_doc, rows)
        for line in stale:
            print(f"   - {line}")
        if stale:
            failed.append(f"{args.compare_doc} is stale; regenerate it with scripts/nccl_matrix.py "
                          f"check --all --build DIR --doc {args.compare_doc}")
        else:
            print(f"{args.compare_doc}: the columns of the releases checked here are current")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


def run_facts(command, doc):
    """When, where and from which commit a matrix run was made. The doc being written does not
    count as a local change: the code measured is the commit's."""
    def out(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    here = os.path.dirname(os.path.abspath(__file__))
    commit = out("git", "-C", here, "rev-parse", "--short=12", "HEAD") or "unknown"
    if out("git", "-C", here, "status", "--porcelain", "--untracked-files=no", "--", ":/",
           f":(exclude){os.path.abspath(doc)}"):
        commit += " with local changes"
    cpu = ""
    try:
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), "")
    except OSError:
        pass
    distro = ""
    try:
        distro = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                       if l.startswith("PRETTY_NAME=")), "")
    except OSError:
        pass
    import datetime
    import platform
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = ", ".join(x for x in (distro, f"{platform.system()} {platform.release()}", cpu,
                                    f"{os.cpu_count()} cores", "no GPU") if x)
    return when, machine, commit, command


def doc_columns(path):
    """{table title: {row name: {release: cell}}} of the measured tables of a generated doc."""
    tables, title, header = {}, None, None
    for line in open(path).read().split("\n"):
        if line.startswith("## "):
            title, header = line[3:].strip(), None
        elif line.startswith("|") and title:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not set(line) <= set("|-"):
                rows = tables.setdefault(title, {})
                rows[cells[0]] = dict(zip(header, cells))
    return tables


def compare_doc(path, rows):
    """What in the doc's measured tables differs from this run, for the releases checked here."""
    tmp = path + ".now"
    write_doc(tmp, rows, "")
    now, then = doc_columns(tmp), doc_columns(path)
    os.remove(tmp)
    stale = []
    for title in ("Features by release (measured)",
                  "The wrappers of NCCL's newer calls, by release (measured)"):
        for name, cells in now.get(title, {}).items():
            for release, cell in cells.items():
                if not re.match(r"^\d+\.\d+\.\d+$", release):
                    continue
                old = then.get(title, {}).get(name, {}).get(release)
                if old != cell:
                    stale.append(f"{title}: {name} on {release}: the doc says {old!r}, "
                                 f"this run {cell!r}")
    return stale


def write_doc(path, rows, command):
    checked = [r for r in rows if "features" in r]
    names = []
    for r in checked:
        for f in r["features"]:
            if f["name"] not in names:
                names.append(f["name"])
    facts = run_facts(command, path) if command else None  # before the doc is truncated
    with open(path, "w") as out:
        out.write(open(os.path.join(os.path.dirname(__file__), "compatibility_intro.md")).read())
        if facts:
            when, machine, commit, cmd = facts
            out.write("\n## This run\n\n"
                      f"- when: {when}\n- machine: {machine}\n- ncclrt commit: {commit}\n"
                      f"- command: `{cmd}`\n"
                      "- verified here, on a CPU: loading, the probe, the ABI against each "
                      "release's nccl.h, ids, error strings, a failing init, the feature gates. "
                      "No collective ran: there is no GPU. Collectives were verified on a GPU "
                      "(H100) with 2.28.9 and 2.30.7 only; see docs/performance.md and the "
                      "README's *Several ranks on one GPU*.\n")
        out.write("\n## Features by release (measured)\n\n")
        out.write("| feature | since | " + " | ".join(r["version"] for r in checked) + " |\n")
        out.write("|---|---|" + "---|" * len(checked) + "\n")
        for n in names:
            cells, since = [], ""
            for r in checked:
                f = next((x for x in r["features"] if x["name"] == n), None)
                since = f["since"] if f else since
                cells.append("yes" if f and f["available"] else "-")
            out.write(f"| {n} | {since} | " + " | ".join(cells) + " |\n")
        out.write("\n## The wrappers of NCCL's newer calls, by release (measured)\n\n")
        out.write("Each is refused with UnsupportedError (naming the release it needs) before "
                  "its first release and usable from it on; parameters are read through the real "
                  "Param API, and a mistyped variable (NCCL_SOCKET_IFNAM) is flagged with the "
                  "nearest name the file reads.\n\n")
        out.write("| wrapper | " + " | ".join(r["version"] for r in checked) + " |\n")
        out.write("|---|" + "---|" * len(checked) + "\n")
        wrappers = []
        for r in checked:
            for w in r.get("wrappers", {}):
                if w not in wrappers:
                    wrappers.append(w)
        for w in wrappers:
            cells = []
            for r in checked:
                v = r.get("wrappers", {}).get(w, "")
                cells.append("yes" if v == "available" else
                             "refused (" + v.split("needs NCCL >= ")[-1].split(";")[0] + ")"
                             if v else "")
            out.write(f"| {w} | " + " | ".join(cells) + " |\n")
        out.write("| parameters() | " + " | ".join(r.get("parameters", "") for r in checked) +
                  " |\n")
        out.write("| NCCL_* variables | " + " | ".join(r.get("variables", "") for r in checked) +
                  " |\n")
        out.write("\n## What ncclrt did with each release\n\n")
        out.write("| release | ABI vs its nccl.h | probe | version read | ids | "
                  "failing init (no GPU) | a function it lacks | verdict |\n"
                  "|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            if "skipped" in r:
                out.write(f"| {r['version']} | skipped: {r['skipped']} | | | | | | |\n")
                continue
            cell = lambda k: str(r.get(k, "")).replace("|", "/")
            verdict = "ok" if r.get("ok") else "FAILED: " + "; ".join(r.get("problems", []))
            out.write(f"| {r['version']} | {cell('abi')} | {cell('probe')} | "
                      f"{cell('loaded_version')} | {cell('ids')} | {cell('init_error')} | "
                      f"{cell('unsupported')} | {verdict} |\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("fetch", "check"):
        s = sub.add_parser(name)
        s.add_argument("versions", nargs="*")
        s.add_argument("--all", action="store_true")
        if name == "check":
            s.add_argument("--build", required=True)
            s.add_argument("--doc")
            s.add_argument("--compare-doc",
                           help="fail if this generated doc's columns of the releases checked "
                                "differ from this run")
    args = p.parse_args()
    {"fetch": cmd_fetch, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    main()
