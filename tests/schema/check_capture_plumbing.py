#!/usr/bin/env python3
"""The ctest side of the protocol capture, read back from ctest itself: every test that requires
the sandgate_protocol_capture fixture also gets SANDGATE_PROTOCOL_CAPTURE_DIR, keeps its cell's
SANDGATE_TEST_IDENTITY and SANDGATE_TEST_PIPELINE, and such tests exist in every matrix cell.
gtest_discover_tests PROPERTIES cannot carry a list, so the capture directory is a second
ENVIRONMENT entry that ctest adds to the first (cmake/sandgate.cmake); if a CMake upgrade made
the second replace the first instead, this says so before any cell runs as the wrong identity.

Usage: check_capture_plumbing.py CTEST BUILD_DIR CAPTURE_DIR
"""

import json
import subprocess
import sys

CELLS = ("root/bwrap/", "user/bwrap/", "root/legacy/", "user/legacy/", "nouserns/legacy/")


def main():
    ctest, build, capture = sys.argv[1:4]
    listing = subprocess.run([ctest, "--test-dir", build, "--show-only=json-v1"],
                             capture_output=True, text=True, check=True)
    tests = json.loads(listing.stdout)["tests"]
    problems, per_cell = [], {cell: 0 for cell in CELLS}
    for test in tests:
        properties = {p["name"]: p["value"] for p in test.get("properties", [])}
        if "sandgate_protocol_capture" not in properties.get("FIXTURES_REQUIRED", []):
            continue
        name = test["name"]
        cell = next((c for c in CELLS if name.startswith(c)), None)
        if cell is None:
            problems.append(f"{name}: requires the capture fixture but is not a matrix test")
            continue
        per_cell[cell] += 1
        environment = properties.get("ENVIRONMENT", [])
        modification = properties.get("ENVIRONMENT_MODIFICATION", [])
        identity = cell.split("/")[0].replace("nouserns", "user-nouserns")
        pipeline = cell.split("/")[1]
        for wanted, where in ((f"SANDGATE_PROTOCOL_CAPTURE_DIR={capture}", environment),
                              (f"SANDGATE_TEST_IDENTITY={identity}", environment),
                              (f"SANDGATE_TEST_PIPELINE=set:{pipeline}", modification)):
            if wanted not in where:
                problems.append(f"{name}: {wanted} missing (ENVIRONMENT {environment}, "
                                f"ENVIRONMENT_MODIFICATION {modification})")
    for cell, count in per_cell.items():
        if count == 0:
            problems.append(f"no {cell} test requires the capture fixture")
    print(f"{sum(per_cell.values())} matrix tests record the protocol: " +
          ", ".join(f"{cell} {count}" for cell, count in per_cell.items()))
    for problem in problems[:50]:
        print("FAIL " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
