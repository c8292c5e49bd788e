"""Importing backprop has no side effects on the process and loads no heavy or optional library."""
import os
import subprocess
import sys

# scipy as a whole loads on first use: numpy alone is what `import backprop` costs
HEAVY = ("scipy", "matplotlib", "sklearn", "pandas", "torch", "dask", "numba")

# a spy on ctypes: reports any lookup of glibc's mallopt (the allocator tuning) while backprop is imported
SPY = """
import ctypes, sys
real = ctypes.CDLL
class Spy(real):
    def __getattr__(self, name):
        if name == "mallopt":
            print("mallopt")
        return real.__getattr__(self, name)
ctypes.CDLL = Spy
import backprop
print(sorted(m for m in {heavy!r} if m in sys.modules))
print(backprop._allocator.TUNED)
backprop.tune_allocator()
"""


def _run(code, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, check=True).stdout


def test_import_loads_no_heavy_library_and_does_not_tune_the_allocator():
    out = _run(SPY.format(heavy=HEAVY)).splitlines()
    assert out[0] == "[]", f"import backprop loaded {out[0]}"
    assert out[1] == "None"                                     # tune() not called by the import
    # the explicit call is what tunes it (the spy sees the lookup, so the check above can fail)
    if sys.platform.startswith("linux"):
        assert out[2:] == ["mallopt"]


def test_the_command_line_entry_point_tunes_the_allocator():
    code = ("import runpy, sys; sys.argv = ['backprop', '--help']\n"
            "try:\n    runpy.run_module('backprop', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "import backprop; print(backprop._allocator.TUNED)")
    out = _run(code).splitlines()
    assert out[-1] == ("True" if sys.platform.startswith("linux") else "False")
