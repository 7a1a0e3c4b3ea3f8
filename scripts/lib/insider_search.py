#!/usr/bin/python3
"""The insider's view (threat model P1): byte-search files for canaries.

usage: insider_search.py --corpus FILE [--corpus FILE ...] PATH [PATH ...]

Every non-empty line of every corpus is a canary. Every regular file under
every PATH (a file or a directory: RocksDB WAL, SST, MANIFEST, LOG, info logs,
the server's own logs) is searched for each canary encoded as UTF-8,
UTF-16-LE and UTF-16-BE. Prints the files and bytes searched and every hit;
exits 1 if there is any hit, 2 if nothing was searched.
"""
import argparse
import os
import sys


def files_under(path):
    if os.path.isfile(path):
        yield path
        return
    for root, _, names in os.walk(path):
        for name in names:
            yield os.path.join(root, name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", required=True)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()

    canaries = []
    for corpus in args.corpus:
        with open(corpus, encoding="utf-8") as f:
            canaries += [line.strip() for line in f if line.strip()]
    needles = []
    for c in canaries:
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            needles.append((c, encoding, c.encode(encoding)))

    files = total = hits = 0
    for path in args.paths:
        for name in files_under(path):
            try:
                with open(name, "rb") as f:
                    data = f.read()
            except OSError as e:
                print(f"insider: cannot read {name}: {e}", file=sys.stderr)
                return 2
            files += 1
            total += len(data)
            for canary, encoding, needle in needles:
                if needle in data:
                    hits += 1
                    print(f"insider: HIT {canary!r} ({encoding}) in {name}")
    print(f"insider: searched {files} files, {total} bytes for {len(canaries)} canaries "
          f"in UTF-8 and UTF-16: {hits} hits")
    if files == 0:
        return 2
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
