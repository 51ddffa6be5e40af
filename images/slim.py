"""Remove from a virtualenv what PyExec's images never run, and strip its native libraries.

`python slim.py VENV` prints the megabytes it freed:
* `tests` directories of the listed packages (their `testing` helpers, which some libraries
  import at run time, stay), C headers and Cython sources;
* pyarrow's Flight and S3 parts: kernels have no network and the service reads no Arrow
  stream (pyarrow imports them lazily: `pyarrow.flight` then fails, nothing else does; every
  other module links Substrait, which stays);
* jedi's bundled typeshed stubs: completions are never asked of a PyExec kernel;
* symbols of shared libraries (`strip --strip-unneeded`, when binutils is there): debug and
  symbol tables are half the size of some wheels' extensions and never used at run time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

TESTED_PACKAGES = (
    "pandas", "numpy", "pyarrow", "matplotlib", "IPython", "ipykernel", "jupyter_client",
    "nbformat", "nbconvert", "traitlets", "tornado", "zmq", "psutil", "sqlalchemy", "openpyxl",
    "fontTools", "kiwisolver", "contourpy", "PIL", "anyio", "jedi", "pygments", "bleach",
)  # fmt: skip
SOURCE_SUFFIXES = (".pyx", ".pxd", ".pxi", ".h", ".hpp", ".c", ".cc", ".cpp")
UNUSED = (
    "pyarrow/include", "pyarrow/src", "numpy/_core/include", "jedi/third_party/typeshed",
    "pyarrow/libarrow_flight.so*", "pyarrow/libarrow_python_flight.so*", "pyarrow/_flight.*.so",
    "pyarrow/flight.py", "pyarrow/libarrow_s3.so*", "pyarrow/_s3fs.*.so",
    "pyarrow/_pyarrow_cpp_tests.*.so",
)  # fmt: skip


def slim(venv: Path) -> int:
    freed = 0
    for site in venv.glob("lib/python3*/site-packages"):
        doomed = [t for name in TESTED_PACKAGES for t in (site / name).glob("**/tests")]
        doomed += [path for pattern in UNUSED for path in site.glob(pattern)]
        for path in doomed:
            freed += _size(path)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        for path in site.rglob("*"):
            if path.suffix in SOURCE_SUFFIXES and path.is_file():
                freed += path.stat().st_size
                path.unlink()
        freed += _strip(site)
    return freed


def _strip(site: Path) -> int:
    strip = shutil.which("strip")
    if strip is None:
        print("slim: no strip (binutils): shared libraries keep their symbols")
        return 0
    libraries = [p for p in site.rglob("*.so*") if p.is_file() and not p.is_symlink()]
    before = sum(p.stat().st_size for p in libraries)
    for lib in libraries:
        shutil.copy2(lib, _backup(lib))
    for chunk in range(0, len(libraries), 200):
        subprocess.run(
            [strip, "--strip-unneeded", *map(str, libraries[chunk : chunk + 200])],
            check=False,
            stderr=subprocess.DEVNULL,
        )
    # strip breaks some libraries that auditwheel's patchelf rewrote ("ELF load command
    # address/offset not page-aligned"): whichever no longer loads gets its original back.
    for lib in _unloadable(libraries):
        _backup(lib).replace(lib)
    for lib in libraries:
        _backup(lib).unlink(missing_ok=True)
    return before - sum(p.stat().st_size for p in libraries)


def _backup(lib: Path) -> Path:
    return lib.with_name(lib.name + ".unstripped")


def _unloadable(libraries: list[Path]) -> list[Path]:
    """Libraries that fail to dlopen now but loaded before stripping."""
    failing = []
    for lib in libraries:
        probe = "import ctypes, sys; ctypes.CDLL(sys.argv[1])"
        now = subprocess.run([sys.executable, "-c", probe, str(lib)], capture_output=True)
        if now.returncode == 0:
            continue
        if b"page-aligned" in now.stderr or _loads(_backup(lib), probe):
            failing.append(lib)
    return failing


def _loads(lib: Path, probe: str) -> bool:
    return (
        subprocess.run([sys.executable, "-c", probe, str(lib)], capture_output=True).returncode == 0
    )


def _size(root: Path) -> int:
    if root.is_file():
        return root.stat().st_size
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


if __name__ == "__main__":
    print(f"slim: freed {slim(Path(sys.argv[1])) / 2**20:.0f} MB")
