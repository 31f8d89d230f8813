"""`python -m bench [NAME ...]`: run the benchmarks and print one table of ratios."""

from __future__ import annotations

import argparse
import importlib

from bench.common import print_table

SUITES = ("import", "ingest_http", "membership", "analytics", "tags", "segments")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", choices=[*SUITES, []], help="which to run (all)")
    args = parser.parse_args()
    results = []
    for suite in args.suites or SUITES:
        module = importlib.import_module(f"bench.bench_{suite}")
        results += module.run()
        print_table(results)
        print()
    print_table(results)


if __name__ == "__main__":
    main()
