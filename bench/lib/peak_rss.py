"""Runs a Python script from its path, as `python SCRIPT ARGS...` would, then prints the process's
peak resident set size as one last JSON line: {"kind": "rusage", "max_rss_mb": ...}.

The bench uses it to read torch_mnist.py's peak RSS (issue 5 compares it with ours) without
touching that script: the script runs in this very process, so ru_maxrss is its own.
"""
import json
import os
import resource
import runpy
import sys

script, *args = sys.argv[1:]
sys.argv = [script, *args]
sys.path[0] = os.path.dirname(os.path.abspath(script))
try:
    runpy.run_path(script, run_name="__main__")
finally:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"kind": "rusage", "max_rss_mb": peak_kb / 1024}), flush=True)
