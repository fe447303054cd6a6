#!/usr/bin/env python3
"""Check a run's junit.xml for CI: it exists, parses, has test cases, and none failed.

    python scripts/check_junit.py RUN_DIR/junit.xml

Exit 0 when every test case passed; 1 when a test case failed or erred (each is
named with its message); 2 when the file is missing, is not JUnit XML, or holds no
test case (a report that checked nothing must not pass). Standard library only, so
it runs before or without the project's virtualenv.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def problems(path: Path) -> tuple[int, list[str]]:
    """The exit code and one line per finding."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        return 2, [f"{path}: no such file (the run wrote no JUnit report)"]
    except (OSError, ET.ParseError) as exc:
        return 2, [f"{path}: not readable XML ({exc})"]
    if root.tag not in ("testsuites", "testsuite"):
        return 2, [f"{path}: expected <testsuites> or <testsuite>, got <{root.tag}>"]
    cases = list(root.iter("testcase"))
    if not cases:
        return 2, [f"{path}: no <testcase>: the report checked nothing"]
    found = []
    for case in cases:
        for bad in (*case.findall("failure"), *case.findall("error")):
            name = f"{case.get('classname', '?')}.{case.get('name', '?')}"
            found.append(f"{bad.tag}: {name}: {bad.get('message') or (bad.text or '').strip()}")
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counted = sum(int(s.get(k) or 0) for s in suites for k in ("failures", "errors"))
    if counted and not found:
        found.append(f"the suites count {counted} failures and errors without naming them")
    return (1 if found else 0), found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_junit.py JUNIT_XML", file=sys.stderr)
        return 2
    path = Path(argv[0])
    code, lines = problems(path)
    for line in lines:
        print(line, file=sys.stderr)
    if code == 0:
        cases = sum(1 for _ in ET.parse(path).getroot().iter("testcase"))
        print(f"{path}: {cases} test cases, none failed")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
