#!/usr/bin/env python3
"""Every code block of README.md and the docs compiles or runs as shown, so they cannot rot.

  check_readme.py SOURCE_DIR LIBNCCLRT NCCLRT_TOOL [DOC ...]   (default: README.md docs/*.md)

- ```cpp blocks are compiled and linked against the library and its public headers (with the CUDA
  toolkit's headers where a block includes them; without a toolkit that block is skipped, saying
  so), with -Wall -Wextra -Werror;
- ```python blocks are parsed, and every `ncclrt.X` / `from ncclrt... import X` they use must be
  a name of the Python module (its stubs and the package's own files);
- ```cmake blocks may only use the package's exported target ncclrt::ncclrt;
- shell lines (```sh and bare blocks): every script they run exists, every CMake preset they name
  exists, and every ncclrt subcommand and flag they show is accepted (`ncclrt SUB --help`).
- a block whose first line is `// from examples/FILE` or `# from examples/FILE` is an excerpt of
  that program, which the GPU tests run: its lines must appear in the file in the same order
  (a line `...` skips any number of lines), so what the doc shows is what runs.
Prints one line per block and exits 1 if any block fails.
"""
import ast
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile


def blocks(text):
    """(language, first line number, code) of every fenced block."""
    out, lang, start, lines = [], None, 0, []
    for n, line in enumerate(text.split("\n"), 1):
        m = re.match(r"^```(\w*)\s*$", line)
        if m and lang is None:
            lang, start, lines = m.group(1), n + 1, []
        elif line.startswith("```") and lang is not None:
            out.append((lang, start, "\n".join(lines)))
            lang = None
        elif lang is not None:
            lines.append(line)
    return out


def check_cpp(code, src, lib, work):
    flags = ["-std=c++17", "-Wall", "-Wextra", "-Werror", f"-I{src}/include"]
    if "cuda_runtime.h" in code:
        cuda = os.environ.get("CUDA_HOME", "/usr/local/cuda")
        if not (pathlib.Path(cuda) / "include" / "cuda_runtime.h").exists():
            return "SKIPPED: includes cuda_runtime.h and no CUDA toolkit here (CUDA_HOME)"
        flags.append(f"-I{cuda}/include")
    if "main(" not in code:
        code += "\nint main() { return 0; }\n"
    f = work / "block.cpp"
    f.write_text(code)
    cxx = os.environ.get("CXX", "c++")
    # The build tree's generated headers, and a sanitizer build's flags.
    flags += os.environ.get("README_CXXFLAGS", "").split()
    r = subprocess.run([cxx, *flags, str(f), lib, "-ldl", "-pthread", "-o", str(work / "block")],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else "does not compile:\n" + r.stderr[-3000:]


def check_excerpt(code, src):
    """None if `code`'s parts (after its `from` line, separated by `...` lines) appear in order in
    the file it names, whitespace aside (a formatter may wrap lines differently)."""
    first, _, rest = code.partition("\n")
    m = re.match(r"^\s*(?://|#) from (\S+)", first)
    path = src / m.group(1)
    if not path.exists():
        return f"no such file: {m.group(1)}"

    def norm(text):
        return re.sub(r"\s+", " ", re.sub(r"([(\[{])\s+", r"\1", text)).strip()
    have = norm(path.read_text())
    at = 0
    for part in re.split(r"^\s*\.\.\.\s*$", rest, flags=re.M):
        want = norm(part)
        if not want:
            continue
        found = have.find(want, at)
        if found < 0:
            return f"not in {m.group(1)} (in this order): {want[:120]!r}"
        at = found + len(want)
    return None


def is_excerpt(code):
    return re.match(r"^\s*(?://|#) from examples/", code) is not None


def python_names(src):
    names = {f.stem for f in (src / "python" / "ncclrt").glob("*.py")}  # its modules
    for f in ["python/ncclrt/_ncclrt.pyi", "python/ncclrt/__init__.py", "python/ncclrt/torch.py",
              "python/ncclrt/pynccl_wrapper.py"]:
        text = (src / f).read_text()
        names |= set(re.findall(r"^\s*(?:def|class)\s+(\w+)", text, re.M))
        names |= set(re.findall(r"^(\w+)\s*[:=]", text, re.M))
        names |= set(re.findall(r"^    ([A-Z][A-Z0-9_]*) = ", text, re.M))  # enum members
        names |= set(re.findall(r"^\s+(\w+),$", text, re.M))  # __init__'s import list
    return names


def check_python(code, src):
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return f"does not parse: {e}"
    known, missing = python_names(src), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "ncclrt" and node.attr not in known:
            missing.append("ncclrt." + node.attr)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "ncclrt" \
                and node.attr not in known:
            missing.append(f"ncclrt.{node.value.attr}.{node.attr}")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ncclrt"):
            missing += [a.name for a in node.names if a.name not in known]
    return "unknown names: " + ", ".join(sorted(set(missing))) if missing else None


def presets(src):
    p = json.loads((src / "CMakePresets.json").read_text())
    return {x["name"] for kind in ("configurePresets", "buildPresets", "testPresets",
                                   "workflowPresets") for x in p.get(kind, [])}


def help_text(tool, sub, cache={}):
    """`ncclrt SUB --help`; SUB may be words ("trace analyze") for a nested subcommand."""
    if sub not in cache:
        r = subprocess.run([tool, *sub.split(), "--help"], capture_output=True, text=True)
        cache[sub] = (r.returncode, r.stdout + r.stderr)
    return cache[sub]


def check_shell(code, src, tool):
    problems = []
    known_presets = presets(src)
    joined = re.sub(r"\\\n", " ", code)
    for line in joined.split("\n"):
        line = line.split("#", 1)[0] if line.lstrip().startswith("ncclrt") is False else line
        for cmd in re.split(r"&&|;|\|\|", line):
            try:
                words = shlex.split(cmd)
            except ValueError:
                words = cmd.split()
            while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                words = words[1:]  # VAR=value before the command
            if not words:
                continue
            if words[0] in ("bash", "python3") and len(words) > 1:
                words = words[1:]
            head = words[0]
            if head.startswith("scripts/") or head.startswith("tests/"):
                if not (src / head).exists():
                    problems.append(f"no such script: {head}")
            elif head == "cmake" and "--preset" in words:
                name = words[words.index("--preset") + 1]
                if name not in known_presets:
                    problems.append(f"no CMake preset '{name}'")
            elif head == "ncclrt" or head.endswith("/ncclrt"):
                problems += check_ncclrt(words[1:], tool)
    return "; ".join(problems) or None


def check_ncclrt(args, tool):
    """The subcommand exists and each flag it shows is in that subcommand's --help."""
    if not args or args[0].startswith("-"):
        rc, text = help_text(tool, "")
        sub = ""
    else:
        sub = args[0]
        rc, text = help_text(tool, sub)
        if rc != 0:
            return [f"ncclrt has no subcommand '{sub}'"]
        args = args[1:]
        # A nested subcommand (`ncclrt trace analyze`): its own --help lists its flags.
        if args and re.match(r"^[a-z][a-z_]*$", args[0]):
            nested_rc, nested = help_text(tool, f"{sub} {args[0]}")
            if nested_rc == 0 and nested != text:
                sub, text, args = f"{sub} {args[0]}", nested, args[1:]
    problems = []
    for a in args:
        for flag in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", a):
            if not re.search(r"(^|[\s,])" + re.escape(flag) + r"\b", text):
                problems.append(f"ncclrt {sub} does not take {flag}".replace("  ", " "))
    return problems


def check_file(doc, src, lib, tool, tmp):
    failed = 0
    for lang, line, code in blocks((src / doc).read_text()):
        if is_excerpt(code):  # the program it comes from is compiled and run by the tests
            why = check_excerpt(code, src)
        elif lang == "cpp":
            why = check_cpp(code, src, lib, pathlib.Path(tmp))
        elif lang == "python":
            why = check_python(code, src)
        elif lang == "cmake":
            targets = set(re.findall(r"\b(\w+::\w+)\b", code))
            why = None if targets <= {"ncclrt::ncclrt"} else f"unknown targets {targets}"
        elif lang in ("sh", "bash", ""):
            why = check_shell(code, src, tool)
        else:
            why = f"SKIPPED: no check for ```{lang} blocks"
        status = "ok" if why is None else ("skipped" if why.startswith("SKIPPED") else "FAILED")
        failed += status == "FAILED"
        print(f"{doc}:{line} ```{lang or 'text'}: {status}" + (f" ({why})" if why else ""))
    return failed


def main():
    src, lib, tool = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    docs = sys.argv[4:] or ["README.md"] + sorted(
        str(p.relative_to(src)) for p in (src / "docs").glob("*.md"))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for doc in docs:
            failed += check_file(doc, src, lib, tool, tmp)
    print("README and docs code blocks: " + ("all OK" if not failed else f"{failed} FAILED"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
