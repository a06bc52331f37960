"""Python's own command line, `python -m http.server PORT ARGS...`, for the side-by-side tests.

Usage (through run.py, which picks the http package): run.py cli PORT ARGS... On an interpreter
older than the `http.server` it runs (CPython 3.14's on Python 3.13), the ArgumentParser
arguments 3.14 added are accepted and ignored.
"""
import argparse
import inspect
import runpy
import sys


def main(port, *args):
    if "color" not in inspect.signature(argparse.ArgumentParser.__init__).parameters:
        init = argparse.ArgumentParser.__init__

        def compatible(self, *a, color=None, suggest_on_error=None, **k):
            init(self, *a, **k)

        argparse.ArgumentParser.__init__ = compatible
    sys.argv = ["http.server", str(port), *args]
    runpy.run_module("http.server", run_name="__main__", alter_sys=True)
