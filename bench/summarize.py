#!/usr/bin/python3
"""Summarises a scripts/bench output directory: medians and min-max spread of
every figure over the runs, same-run ratios, and each target of
/work/shared/brief/performance.md met or missed. Writes <out>/summary.json
and prints one table per section.

    /usr/bin/python3 bench/summarize.py OUT [--git REV] [--runs N] ...
"""
import argparse
import glob
import json
import os
import platform
import statistics
import sys
import time


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def stat(values):
    """median, min, max, n of the non-None values (None if there are none)."""
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def med(s):
    return s["median"] if s else None


def fmt(s, digits=0, scale=1.0):
    if s is None:
        return "-"
    if isinstance(s, (int, float)):
        return f"{s * scale:,.{digits}f}"
    m, lo, hi = s["median"] * scale, s["min"] * scale, s["max"] * scale
    return f"{m:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


def table(title, header, rows):
    lines = [title]
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(header)]
    lines.append("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    if not rows:
        lines.append("(not run)")
    return "\n".join(lines) + "\n"


def runs_of(out, pattern, name):
    return [d for d in [load(p) for p in sorted(glob.glob(os.path.join(out, "raw", pattern)))]
            if d is not None]


def get(d, *path):
    for p in path:
        if d is None:
            return None
        d = d.get(p) if isinstance(d, dict) else None
    return d


def lat(run_part, q):
    return get(run_part, "latency_us", q)


def target(name, value, goal, met, bound=""):
    return {"target": name, "value": value, "goal": goal,
            "met": None if (met is None or value is None) else bool(met), "bound": bound}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--git", default="unknown")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--wall-seconds", type=float, default=0)
    a = ap.parse_args()
    out = a.out
    text = []
    summary = {
        "git": a.git, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
        "cpus": os.cpu_count(), "runs": a.runs, "duration_seconds": a.duration,
        "warmup_seconds": a.warmup, "wall_seconds": a.wall_seconds, "sections": {},
        "targets": [],
    }
    runs_log = []
    if os.path.exists(os.path.join(out, "runs.jsonl")):
        with open(os.path.join(out, "runs.jsonl")) as f:
            runs_log = [json.loads(l) for l in f if l.strip()]
    loads = [float(r["loadavg_start"].split()[0]) for r in runs_log]
    summary["loadavg_1min"] = stat(loads)
    summary["failed_runs"] = [f'{r["name"]} run {r["rep"]}' for r in runs_log if not r["path"]]
    text.append(f"Letterbox bench {summary['date']} git {a.git}, {summary['cpus']} CPUs, "
                f"{a.runs} runs x {a.duration:g} s (+{a.warmup:g} s warm-up); "
                f"1-min load average during runs {fmt(summary['loadavg_1min'], 1)}\n"
                "figures: median (min-max) over runs\n")
    if summary["failed_runs"]:
        text.append("FAILED runs: " + ", ".join(summary["failed_runs"]) + "\n")
    T = summary["targets"]

    # ---- section 1: RocksDB ----
    rdb = runs_of(out, "s1/rocksdb-r*/rocksdb.json", "rocksdb")
    s1 = {}
    for k in ["put_nosync_1t", "put_sync_1t", "put_sync_2w", "put_sync_16w", "store_nosync_1t", "store_sync_16w", "scan_100",
              "hmac_franking"]:
        s1[k] = {"per_s": stat([get(r, k, "per_s") for r in rdb]),
                 "us_per_op": stat([1e6 / r[k]["per_s"] for r in rdb
                                    if get(r, k, "per_s")]),
                 "cpu_us_per_op": stat([get(r, k, "cpu_us_per_op") for r in rdb])}
    summary["sections"]["rocksdb"] = s1

    # ---- section 2: unary Send + no-op ceilings ----
    s2 = {}
    rows = []
    put_hmac_us = None
    # CPU µs (not wall): on a loaded machine the wall time of one thread
    # includes waiting for a core; the no-op side of the model is CPU too.
    if med(s1["store_nosync_1t"]["cpu_us_per_op"]) and med(s1["hmac_franking"]["cpu_us_per_op"]):
        put_hmac_us = med(s1["store_nosync_1t"]["cpu_us_per_op"]) + med(
            s1["hmac_franking"]["cpu_us_per_op"])
    for c in [1, 16, 64, 256]:
        rs = runs_of(out, f"s2/send-c{c}-r*/load.json", "")
        if not rs:
            continue
        noop = [get(r, "ceiling", "noop") for r in rs]
        load_ = [get(r, "load") for r in rs]
        send_rate = [get(l, "total", "achieved_per_s") for l in load_]
        noop_rate = [get(n, "total", "achieved_per_s") for n in noop]
        noop_cpu = [(get(n, "cpu", "client_us_per_op") or 0) + (get(n, "cpu", "server_us_per_op") or 0)
                    for n in noop]
        # The "RPC + put" ceiling of each run: the run's own no-op figures
        # plus this run's RocksDB Store-shaped batch and HMAC (median).
        comb = []
        for nr, nc in zip(noop_rate, noop_cpu):
            if not nr or put_hmac_us is None:
                comb.append(None)
            elif c == 1:
                comb.append(1.0 / (1.0 / nr + put_hmac_us * 1e-6))
            else:
                comb.append(nr * nc / (nc + put_hmac_us))
        ratio_noop = [s / n if s and n else None for s, n in zip(send_rate, noop_rate)]
        ratio_comb = [s / k if s and k else None for s, k in zip(send_rate, comb)]
        e = {
            "inflight": c,
            "send_per_s": stat(send_rate),
            "send_errors": stat([get(l, "total", "errors") for l in load_]),
            "p50_us": stat([lat(get(l, "total"), "p50") for l in load_]),
            "p90_us": stat([lat(get(l, "total"), "p90") for l in load_]),
            "p99_us": stat([lat(get(l, "total"), "p99") for l in load_]),
            "p999_us": stat([lat(get(l, "total"), "p999") for l in load_]),
            "client_us_per_send": stat([get(l, "cpu", "client_us_per_op") for l in load_]),
            "server_us_per_send": stat([get(l, "cpu", "server_us_per_op") for l in load_]),
            "noop_per_s": stat(noop_rate),
            "noop_p50_us": stat([lat(get(n, "total"), "p50") for n in noop]),
            "noop_p99_us": stat([lat(get(n, "total"), "p99") for n in noop]),
            "noop_client_us": stat([get(n, "cpu", "client_us_per_op") for n in noop]),
            "noop_server_us": stat([get(n, "cpu", "server_us_per_op") for n in noop]),
            "noop_stream_per_s": stat([get(r, "ceiling", "noop_stream", "messages_per_s") for r in rs]),
            "noop_stream_client_us": stat([get(r, "ceiling", "noop_stream", "cpu", "client_us_per_message") for r in rs]),
            "noop_stream_server_us": stat([get(r, "ceiling", "noop_stream", "cpu", "server_us_per_message") for r in rs]),
            "rpc_put_ceiling_per_s": stat(comb),
            "ratio_to_noop": stat(ratio_noop),
            "ratio_to_rpc_put": stat(ratio_comb),
        }
        s2[str(c)] = e
        rows.append([c, fmt(e["send_per_s"]), fmt(e["p50_us"], 2, 1e-3), fmt(e["p99_us"], 2, 1e-3),
                     fmt(e["p999_us"], 2, 1e-3), fmt(e["client_us_per_send"], 1),
                     fmt(e["server_us_per_send"], 1), fmt(e["noop_per_s"]),
                     fmt(e["rpc_put_ceiling_per_s"]), fmt(e["ratio_to_noop"], 2),
                     fmt(e["ratio_to_rpc_put"], 2)])
    summary["sections"]["send"] = s2
    summary["sections"]["put_plus_hmac_us"] = put_hmac_us

    # Section 1 table (ceilings), from s1 and the 64-in-flight no-op run.
    c64 = s2.get("64", {})
    r1 = [
        ["gRPC unary no-op, 64 in flight, 4 channels", fmt(c64.get("noop_per_s")) + " RPC/s",
         f"p50 {fmt(c64.get('noop_p50_us'), 2, 1e-3)} ms; CPU/RPC client {fmt(c64.get('noop_client_us'), 1)} us, server {fmt(c64.get('noop_server_us'), 1)} us"],
        ["gRPC unary no-op, 1 in flight", fmt(get(s2, "1", "noop_per_s")) + " RPC/s",
         f"p50 {fmt(get(s2, '1', 'noop_p50_us'), 3, 1e-3)} ms"],
        ["gRPC server-streaming no-op, 4 streams, 256 B", fmt(c64.get("noop_stream_per_s")) + " msg/s",
         f"CPU/msg client {fmt(c64.get('noop_stream_client_us'), 1)} us, server {fmt(c64.get('noop_stream_server_us'), 1)} us"],
        ["RocksDB put, sync=false, 1 thread", fmt(s1["put_nosync_1t"]["per_s"]) + " /s", f"{fmt(s1['put_nosync_1t']['us_per_op'], 2)} us/put wall, {fmt(s1['put_nosync_1t']['cpu_us_per_op'], 2)} us CPU"],
        ["RocksDB put, sync=true, 1 / 2 writers", fmt(s1["put_sync_1t"]["per_s"]) + " / " + fmt(s1["put_sync_2w"]["per_s"]) + " /s", "no group commit to speak of"],
        ["RocksDB put, sync=true, 16 writers (group commit)", fmt(s1["put_sync_16w"]["per_s"]) + " /s", ""],
        ["RocksDB Store batch (envelope + receipt), sync=false, 1 thread", fmt(s1["store_nosync_1t"]["per_s"]) + " /s", f"{fmt(s1['store_nosync_1t']['us_per_op'], 2)} us/batch wall, {fmt(s1['store_nosync_1t']['cpu_us_per_op'], 2)} us CPU"],
        ["RocksDB Store batch, sync=true, 16 writers", fmt(s1["store_sync_16w"]["per_s"]) + " /s", ""],
        ["RocksDB mailbox scan (seek + 100)", fmt(s1["scan_100"]["per_s"]) + " /s", ""],
        ["HMAC-SHA256 franking tag", fmt(s1["hmac_franking"]["cpu_us_per_op"], 2) + " us CPU", ""],
    ]
    text.append(table("1. Ceilings (same run)", ["what", "figure", "detail"], r1))
    text.append(table(
        "2. Unary Send, closed loop, 64 devices, 4 channels, 256 B "
        f"(RPC+put ceiling adds {fmt(put_hmac_us, 2)} us Store batch + HMAC to the same-run no-op)",
        ["in flight", "send/s", "p50 ms", "p99 ms", "p99.9 ms", "cli us/msg", "srv us/msg",
         "no-op/s", "RPC+put/s", "÷no-op", "÷RPC+put"], rows))
    if "64" in s2:
        e = s2["64"]
        T.append(target("unary Send >= 90% of RPC+put ceiling (64 in flight)",
                        med(e["ratio_to_rpc_put"]), 0.9,
                        med(e["ratio_to_rpc_put"]) is not None and med(e["ratio_to_rpc_put"]) >= 0.9))
        T.append(target("unary Send >= 50% of no-op ceiling (64 in flight)",
                        med(e["ratio_to_noop"]), 0.5,
                        med(e["ratio_to_noop"]) is not None and med(e["ratio_to_noop"]) >= 0.5))

    # ---- section 3: SendStream ----
    st = runs_of(out, "s3/stream-r*/stream.json", "")
    s3 = {"stored_per_s": stat([r.get("stored_per_s") for r in st]),
          "client_us": stat([r.get("client_us_per_message") for r in st]),
          "server_us": stat([r.get("server_us_per_message") for r in st]),
          "errors": stat([r.get("errors") for r in st]),
          "streams": st[0]["streams"] if st else None}
    summary["sections"]["stream"] = s3
    text.append(table("3. Streamed sends (SendStream, 8 device streams over 4 channels, window 256)",
                      ["stored msg/s", "client us/msg", "server us/msg", "errors"],
                      [[fmt(s3["stored_per_s"]), fmt(s3["client_us"], 1), fmt(s3["server_us"], 1),
                        fmt(s3["errors"])]]))
    if st:
        T.append(target("streamed sends >= 100k stored msg/s", med(s3["stored_per_s"]), 100000,
                        med(s3["stored_per_s"]) >= 100000))

    # ---- section 4: end to end ----
    cl = runs_of(out, "s4/e2e-closed-r*/load.json", "")
    op = runs_of(out, "s4/e2e-open-r*/load.json", "")
    s4 = {}
    rows = []
    for label, rs in [("closed, 64 in flight (saturation)", cl), ("open loop at 50%", op)]:
        if not rs:
            continue
        l = [get(r, "load") for r in rs]
        e = {"offered_per_s": stat([get(x, "offered_rate") or get(x, "total", "offered_per_s") for x in l]),
             "send_per_s": stat([get(x, "total", "achieved_per_s") for x in l]),
             "delivered_per_s": stat([get(x, "e2e", "delivered_per_s") for x in l]),
             "e2e_p50_us": stat([get(x, "e2e", "latency_us", "p50") for x in l]),
             "e2e_p90_us": stat([get(x, "e2e", "latency_us", "p90") for x in l]),
             "e2e_p99_us": stat([get(x, "e2e", "latency_us", "p99") for x in l]),
             "e2e_p999_us": stat([get(x, "e2e", "latency_us", "p999") for x in l]),
             "client_us_per_msg": stat([get(x, "cpu", "client_us_per_op") for x in l]),
             "server_us_per_msg": stat([get(x, "cpu", "server_us_per_op") for x in l]),
             "errors": stat([get(x, "total", "errors") for x in l])}
        s4["closed" if label.startswith("closed") else "open"] = e
        rows.append([label, fmt(e["offered_per_s"]), fmt(e["send_per_s"]), fmt(e["delivered_per_s"]),
                     fmt(e["e2e_p50_us"], 2, 1e-3), fmt(e["e2e_p99_us"], 2, 1e-3),
                     fmt(e["e2e_p999_us"], 2, 1e-3), fmt(e["client_us_per_msg"], 1),
                     fmt(e["server_us_per_msg"], 1)])
    # The crypto mode each run used (letterbox-sim load --crypto), and the
    # receivers' verdicts: a real-crypto figure counts only messages that
    # opened and verified.
    modes = sorted({get(r, "config", "crypto") or "synthetic" for r in cl + op})
    verdicts = {k: sum(get(r, "load", "crypto", k) or 0 for r in cl + op)
                for k in ("opened", "decrypt_failures", "corrupted", "duplicates")}
    s4["crypto"] = "+".join(modes) if modes else None
    s4["crypto_verdicts"] = verdicts
    summary["sections"]["e2e"] = s4
    crypto_label = ("real X3DH/Double Ratchet per message (opened {opened}, decrypt failures "
                    "{decrypt_failures}, corrupted {corrupted})".format(**verdicts)
                    if modes == ["real"] else "crypto: " + s4["crypto"] if modes else "")
    text.append(table("4. End to end (send, store, push to the subscribed recipient, ack); 64 devices, all subscribed; "
                      + crypto_label,
                      ["loop", "offered/s", "send/s", "delivered/s", "e2e p50 ms", "e2e p99 ms",
                       "e2e p99.9 ms", "cli us/msg", "srv us/msg"], rows))
    syn = runs_of(out, "s4/e2e-synthetic-closed-r*/load.json", "")
    if syn:
        l = [get(r, "load") for r in syn]
        s4["synthetic_closed_delivered_per_s"] = stat([get(x, "e2e", "delivered_per_s") for x in l])
        text.append("  same loop with synthetic ciphertext (no ratchet): delivered/s "
                    + fmt(s4["synthetic_closed_delivered_per_s"]) + "\n")
    if "closed" in s4:
        v = med(s4["closed"]["delivered_per_s"])
        T.append(target("end to end >= 30k msg/s sustained (" + (s4["crypto"] or "?") + " crypto)",
                        v, 30000, v is not None and v >= 30000))
    if "open" in s4:
        v = med(s4["open"]["e2e_p99_us"])
        T.append(target("e2e delivery p99 < 25 ms at half the saturated rate, open loop", v, 25000,
                        v is not None and v < 25000))

    # ---- section 5: fsync ----
    s5 = {}
    rows = []
    for c in [64, 256]:
        rs = runs_of(out, f"s5/fsync-c{c}-r*/load.json", "")
        if not rs:
            continue
        l = [get(r, "load") for r in rs]
        rate = stat([get(x, "total", "achieved_per_s") for x in l])
        e = {"send_per_s": rate,
             "p50_us": stat([lat(get(x, "total"), "p50") for x in l]),
             "p99_us": stat([lat(get(x, "total"), "p99") for x in l]),
             "server_us_per_send": stat([get(x, "cpu", "server_us_per_op") for x in l]),
             "process_send_per_s": get(s2, str(c), "send_per_s"),
             "ratio_to_rocksdb_put_sync": (med(rate) / med(s1["put_sync_16w"]["per_s"])
                                           if med(rate) and med(s1["put_sync_16w"]["per_s"]) else None),
             "ratio_to_rocksdb_store_sync": (med(rate) / med(s1["store_sync_16w"]["per_s"])
                                             if med(rate) and med(s1["store_sync_16w"]["per_s"]) else None)}
        s5[str(c)] = e
        rows.append([c, fmt(e["process_send_per_s"]), fmt(rate), fmt(e["p50_us"], 2, 1e-3),
                     fmt(e["p99_us"], 2, 1e-3), fmt(s1["put_sync_16w"]["per_s"]),
                     fmt(e["ratio_to_rocksdb_put_sync"], 2), fmt(s1["store_sync_16w"]["per_s"]),
                     fmt(e["ratio_to_rocksdb_store_sync"], 2)])
    summary["sections"]["fsync"] = s5
    text.append(table("5. Durability: unary Send, process vs fsync mode",
                      ["in flight", "process send/s", "fsync send/s", "p50 ms", "p99 ms",
                       "RocksDB put sync16/s", "÷put", "RocksDB Store sync16/s", "÷Store"], rows))
    if s5:
        best = max(s5.values(), key=lambda e: med(e["send_per_s"]) or 0)
        v = best["ratio_to_rocksdb_put_sync"]
        T.append(target("fsync mode >= 80% of RocksDB's sync group-commit figure (best of 64/256 in flight, vs 16-writer puts)",
                        v, 0.8, v is not None and v >= 0.8))

    # ---- section 6: growth ----
    g = load(os.path.join(out, "raw", "s6", "growth", "growth.json"))
    s6 = {}
    if g:
        for curve, key in [("messages", "stored_messages"), ("accounts", "accounts")]:
            pts = g.get(curve, [])
            rows = []
            for p in pts:
                runs = p["runs"]
                rows.append([f"{p[key]:,}"] + [fmt(stat([r[k] for r in runs]), 2)
                                               for k in ["send_us", "fetch_us", "ack_us"]])
            ratios = {}
            if len(pts) >= 2:
                for k in ["send_us", "fetch_us", "ack_us"]:
                    ratios[k] = pts[-1]["median"][k] / pts[0]["median"][k]
            s6[curve] = {"points": pts, "ratio_largest_smallest": ratios}
            text.append(table(f"6. Storage cost growth vs {curve} (thread-CPU us per message, one thread, "
                              f"batch {g.get('batch')}; ratio largest/smallest: "
                              + ", ".join(f"{k[:-3]} {v:.2f}" for k, v in ratios.items()) + ")",
                              [key, "send", "fetch", "ack"], rows))
            if ratios:
                worst = max(ratios.values())
                T.append(target(f"per-message cost within 20% from {pts[0][key]:,} to {pts[-1][key]:,} {curve}",
                                worst, 1.2, worst <= 1.2))
    summary["sections"]["growth"] = s6

    # ---- section 7: connections ----
    s7 = {}
    rows = []
    for p in sorted(glob.glob(os.path.join(out, "raw", "s7", "conn-p*", "connections.json"))):
        c = load(p)
        if not c:
            continue
        s7[str(c["per_connection"])] = c
        rows.append([c["devices"], c["subscribed"], c["per_connection"], c["connections"],
                     f"{c['rss_before_kib']:,}", f"{c['rss_after_kib']:,}",
                     f"{c['rss_per_subscriber_kib']:.1f}", f"{c['subscribe_seconds']:.1f}"])
    summary["sections"]["connections"] = s7
    text.append(table("7. Idle subscribed devices: server RSS (VmRSS)",
                      ["devices", "subscribed", "per conn", "connections", "RSS before KiB",
                       "RSS after KiB", "KiB/subscriber", "subscribe s"], rows))
    if "1" in s7:
        v = s7["1"]["rss_per_subscriber_kib"]
        T.append(target(f"server memory per idle subscriber <= 20 KiB ({s7['1']['devices']:,} devices, one connection each)",
                        v, 20, v <= 20 and s7["1"]["subscribed"] == s7["1"]["devices"]))

    # ---- section 8: claims, vault ----
    cr = runs_of(out, "s8/claim-r*/load.json", "")
    s8 = {}
    rows = []
    if cr:
        l = [get(r, "load") for r in cr]
        n = [get(r, "ceiling", "noop") for r in cr]
        rate = [get(x, "total", "achieved_per_s") for x in l]
        noop = [get(x, "total", "achieved_per_s") for x in n]
        s8["claims"] = {"per_s": stat(rate), "noop_per_s": stat(noop),
                        "ratio_to_noop": stat([a / b if a and b else None for a, b in zip(rate, noop)]),
                        "p99_us": stat([lat(get(x, "total"), "p99") for x in l]),
                        "server_us": stat([get(x, "cpu", "server_us_per_op") for x in l]),
                        "errors": stat([get(x, "total", "errors") for x in l])}
        e = s8["claims"]
        rows.append(["ClaimBundle, 64 in flight", fmt(e["per_s"]) + " /s",
                     f"no-op {fmt(e['noop_per_s'])} /s; ratio {fmt(e['ratio_to_noop'], 2)}; srv {fmt(e['server_us'], 1)} us/claim; errors {fmt(e['errors'])}"])
        v = med(e["ratio_to_noop"])
        T.append(target("bundle claims >= 50% of the no-op ceiling", v, 0.5, v is not None and v >= 0.5))
    vr = runs_of(out, "s8/vault-r*/vault.json", "")
    if vr:
        s8["vault"] = {"per_s": stat([r["per_s"] for r in vr]),
                       "us_per_report": stat([r["us_per_report"] for r in vr]),
                       "cpu_us_per_report": stat([r["cpu_us_per_report"] for r in vr])}
        e = s8["vault"]
        rows.append(["Vault::Ingest, RocksDB vault store, 1 thread", fmt(e["per_s"]) + " reports/s",
                     f"{fmt(e['us_per_report'], 1)} us/report"])
        v = med(e["per_s"])
        T.append(target("sealed-report intake >= 10k reports/s", v, 10000, v >= 10000))
    summary["sections"]["keys_vault"] = s8
    text.append(table("8. Key directory and vault", ["what", "figure", "detail"], rows))

    rows = [[t["target"], "-" if t["value"] is None else f"{t['value']:,.3g}", f"{t['goal']:,}",
             {True: "MET", False: "MISSED", None: "?"}[t["met"]]] for t in T]
    text.append(table("Targets", ["target", "value", "goal", ""], rows))
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    sys.stdout.write("\n".join(text))


if __name__ == "__main__":
    main()
