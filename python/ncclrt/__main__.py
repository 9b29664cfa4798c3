"""The `ncclrt` command from Python: `python -m ncclrt ...` and the `ncclrt` console script.

Both start the C++ command that ships in this package (ncclrt/bin/ncclrt), the same program a
CMake build makes, with every argument passed through and its exit code returned: every
subcommand (info, probe, bench, version, and any added later) is that program's.
"""
import os
import sys


def command_path():
    """The path of the ncclrt program inside this package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "ncclrt")


def main(argv=None):
    """Replaces this process with the ncclrt program; returns 1 only if it cannot be started."""
    path = command_path()
    args = sys.argv[1:] if argv is None else list(argv)
    if not os.access(path, os.X_OK):
        sys.stderr.write(
            f"ncclrt: the command is missing from this installation ({path} not found or not "
            "executable). Try: reinstall the package (`pip install --force-reinstall ncclrt`); "
            "a CMake build has it as build/<preset>/tools/ncclrt/ncclrt\n")
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(path, ["ncclrt", *args])
    except OSError as e:  # e.g. a file system mounted noexec
        sys.stderr.write(f"ncclrt: cannot start {path}: {e.strerror}. Try: reinstall the package "
                         "on a file system that allows running programs\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
