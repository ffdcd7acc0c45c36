#!/usr/bin/env python3
"""Runs the privileged integration tests: real BPF, real workloads, real
readers. Each test_*.py file here declares its tests with
@integration_test (harness.py); this finds them.

    run.py NAME     runs the test NAME: exit 0 pass, 1 fail, 77 skip (only
                    where the machine truly cannot run BPF: not root)
    run.py --list   one line per test: NAME SUITE TIMEOUT FILE, for
                    tests/integration/meson.build (SUITE bpf-plain or
                    bpf-sanitized, TIMEOUT in seconds)
"""
import sys

# no __pycache__ in the source tree (the test files, tests/bench's
# hostile-tenant.py, tests/tools/testlib.py); before any import of them
sys.dont_write_bytecode = True

import glob  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


def load():
    """Imports every test_*.py here, which declares its tests."""
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        importlib.import_module(os.path.basename(path)[:-3])


def main():
    if len(sys.argv) != 2:
        harness.fail("usage: run.py NAME | --list")
    load()
    if sys.argv[1] == "--list":
        for t in harness.TESTS.values():
            print(t.name, t.suite, t.timeout, t.file)
        return
    if os.geteuid() != 0:
        print("SKIP: needs root to load BPF")
        sys.exit(77)
    test = harness.TESTS.get(sys.argv[1])
    if not test:
        harness.fail("no such test " + sys.argv[1])
    test.fn()


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(harness.TMP, ignore_errors=True)
