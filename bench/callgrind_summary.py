#!/usr/bin/python3
"""Per-operation instruction counts from a callgrind profile of the server
(bench/profile_send.sh): total Ir, and for each function whose name contains
one of the given substrings, the number of calls into it and its inclusive
Ir, both divided by the number of operations (calls into the --per function).

    bench/callgrind_summary.py callgrind.send.out --per 'SendRequest, letterbox::v1::SendResponse>::RunHandler' \
        'MessageHandler::Send(' 'GraphCycles' ...

Inclusive cost is summed over call sites (callgrind's "calls=" lines), so a
function reached through recursion is counted once per entry.
"""
import argparse
import collections
import re
import sys


def parse(path):
    names = {}
    totals = 0
    calls = collections.Counter()
    incl = collections.Counter()
    self_cost = collections.Counter()
    fn = None
    cfn = None
    pending_call = None
    comp = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def resolve(spec):
        m = comp.match(spec)
        if not m:
            return spec
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), spec)

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("fn="):
                fn = resolve(line[3:])
                continue
            if line.startswith("cfn="):
                cfn = resolve(line[4:])
                continue
            if line.startswith("calls="):
                pending_call = int(line[6:].split()[0])
                continue
            if line.startswith("summary:") or line.startswith("totals:"):
                totals = int(line.split()[1])
                continue
            if line and (line[0].isdigit() or line[0] in "+-*"):
                parts = line.split()
                if len(parts) < 2:
                    continue
                try:
                    cost = int(parts[1])
                except ValueError:
                    continue
                if pending_call is not None:
                    calls[cfn] += pending_call
                    incl[cfn] += cost
                    pending_call = None
                else:
                    self_cost[fn] += cost
            # other lines (fl=, fi=, fe=, ob=, cob=, headers) ignored
    return totals or sum(self_cost.values()), calls, incl, self_cost


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--per", required=True, help="substring of the once-per-operation function")
    ap.add_argument("patterns", nargs="*")
    a = ap.parse_args()
    total, calls, incl, self_cost = parse(a.file)
    per = [n for n in calls if a.per in n]
    ops = max((calls[n] for n in per), default=0)
    if ops == 0:
        print(f"no calls into a function matching {a.per!r}", file=sys.stderr)
        return 1
    print(f"{a.file}: {ops:,} operations, {total:,} Ir total = {total / ops:,.0f} Ir per operation")
    for p in a.patterns:
        matched = [n for n in set(calls) | set(self_cost) if p in n]
        c = sum(calls[n] for n in matched)
        i = sum(incl[n] for n in matched)
        s = sum(self_cost[n] for n in matched)
        print(f"  {p[:70]:70s} calls/op {c / ops:7.2f}  incl Ir/op {i / ops:10,.0f} "
              f"({100 * i / total:5.1f}%)  self Ir/op {s / ops:9,.0f} ({100 * s / total:5.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
