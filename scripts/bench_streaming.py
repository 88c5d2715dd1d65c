#!/usr/bin/env python3
"""The streaming benchmark (run by `scripts/bench`): spate's network word count against
spate-wordgen on 127.0.0.1, generator and job sharing the machine.

Reports, as a markdown table on stdout and JSON in bench-results/streaming.json:
  1. max sustainable throughput at 1 s, 100 ms and 10 ms batches (rising-rate search), and a flood;
  2. latency at 100k lines/s with 100, 10, 2 and 1 ms batches: processing time, total delay,
     and every line's end-to-end latency, measured (its send time in the generator's send log
     to the moment its batch's output finished), with the CPU time the hypervisor stole
     meanwhile (a stolen vCPU stalls everything: the tail depends on it);
  3. peak RSS of every run;
  4. the hand-written ceiling (one thread, same socket, same hasher) and spate as a % of it;
  5. correctness: at a fixed number of lines, counted lines, words and named words are exact.

Binaries are expected in target/release (scripts/bench builds them). Usage:
  scripts/bench_streaming.py [--trial-seconds S] [--confirm-seconds S] [--quick] [--long]
(--long: the latency runs and the flood take 60 s each, as issue 17's targets are stated)
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
GEN = os.path.join(REL, "spate-wordgen")
JOB = os.path.join(REL, "examples", "wordcount_bench")
CEILING = os.path.join(REL, "examples", "wordcount_ceiling")
BATCH_RE = re.compile(
    r"BATCH time=(\d+) records=(\d+) words=(\d+) sched=([\d.]+) proc=([\d.]+) total=([\d.]+) done=(\d+)")
SPARK_BASELINE = {"1000": 600_000, "latency_100ms_avg_total_ms": 126}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Generator:
    """spate-wordgen serving one client; its SENT summary is parsed when it ends."""

    def __init__(self, rate, lines=None, count="w0,w1,w9", send_log=None):
        args = [GEN, "--port", "0", "--rate", str(rate), "--once", "--count", count]
        if lines is not None:
            args += ["--lines", str(lines)]
        if send_log is not None:
            args += ["--send-log", send_log]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline()
        m = re.match(r"LISTENING port=(\d+)", first)
        if not m:
            raise RuntimeError(f"spate-wordgen did not start: {first!r}")
        self.port = int(m.group(1))

    def summary(self, timeout=30):
        out, _ = self.proc.communicate(timeout=timeout)
        m = re.search(r"SENT lines=(\d+) words=(\d+) seconds=([\d.]+)(.*)", out)
        if not m:
            return None
        counts = dict(re.findall(r"count\[(\w+)\]=(\d+)", m.group(4)))
        sent_bytes = re.search(r"bytes=(\d+)", m.group(4))
        return {"lines": int(m.group(1)), "words": int(m.group(2)),
                "seconds": float(m.group(3)), "counts": {k: int(v) for k, v in counts.items()},
                "bytes": int(sent_bytes.group(1)) if sent_bytes else 0}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def peak_rss_sampler(pid, box):
    """Samples VmRSS of `pid` every 100 ms into box['samples'] (KiB) until it exits."""
    path = f"/proc/{pid}/status"
    while True:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        box["samples"].append(int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.1)


def tcp_received_sampler(pid, box):
    """The bytes `pid` has received over TCP, into box['tcp_received'] until it exits: each of
    its sockets' `bytes_received` (`ss -tinp`, every 200 ms; the largest seen per socket),
    summed. (A socket opened and closed between two samples is missed: a few RPCs at most.)"""
    seen = {}
    while os.path.exists(f"/proc/{pid}"):
        try:
            out = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True,
                                 timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return
        key = None
        for line in out.splitlines():
            if not line[:1].isspace():
                fields = line.split()
                key = tuple(fields[3:5]) if f"pid={pid}," in line else None
            elif key is not None:
                m = re.search(r"bytes_received:(\d+)", line)
                if m:
                    seen[key] = max(seen.get(key, 0), int(m.group(1)))
        box["tcp_received"] = sum(seen.values())
        time.sleep(0.2)


def run_job(rate, batch_ms, seconds, lines=None, track=None, extra_env=None, send_log=None,
            receivers=1, receivers_measured=False):
    """One run: generator at `rate` lines/s, the job for `seconds`. Returns batches and stats.
    With `receivers` > 1, as many generators share the rate, one socket receiver each; with
    `receivers_measured`, also the bytes the job's process received over TCP."""
    gens = [Generator(rate // receivers, lines, send_log=send_log) for _ in range(receivers)]
    gen = gens[0]
    env = dict(os.environ, SPATE_MASTER="local[2]", RUST_LOG="error")
    env.update(extra_env or {})
    if receivers > 1:
        env["SPATE_BENCH_MORE_PORTS"] = ",".join(str(g.port) for g in gens[1:])
    if track:
        env["SPATE_BENCH_TRACK"] = track
    job = subprocess.Popen([JOB, "127.0.0.1", str(gen.port), str(batch_ms), str(seconds)],
                           stdout=subprocess.PIPE, text=True, env=env)
    rss = {"samples": [], "tcp_received": 0}
    sampler = threading.Thread(target=peak_rss_sampler, args=(job.pid, rss), daemon=True)
    sampler.start()
    if receivers_measured:
        net = threading.Thread(target=tcp_received_sampler, args=(job.pid, rss), daemon=True)
        net.start()
    out, _ = job.communicate(timeout=seconds + 120)
    sampler.join(timeout=1)
    if lines is None:
        for g in gens:
            g.kill()
    sents = [g.summary(timeout=60) for g in gens]
    sent = None if any(x is None for x in sents) else {
        "lines": sum(x["lines"] for x in sents), "words": sum(x["words"] for x in sents),
        "seconds": max(x["seconds"] for x in sents), "bytes": sum(x["bytes"] for x in sents),
        "counts": {k: sum(x["counts"].get(k, 0) for x in sents) for k in sents[0]["counts"]}}
    batches = [dict(zip(("time", "records", "words", "sched", "proc", "total", "done_us"),
                        (int(m[0]), int(m[1]), int(m[2]), float(m[3]), float(m[4]), float(m[5]),
                         int(m[6]))))
               for m in BATCH_RE.findall(out)]
    tracked = dict(re.findall(r"count\[(\w+)\]=(\d+)", out.split("TRACKED", 1)[1])) \
        if "TRACKED" in out else {}
    samples = rss["samples"] or [0]
    return {"batches": batches, "exit": job.returncode, "sent": sent,
            "driver_tcp_received": rss["tcp_received"],
            "tracked": {k: int(v) for k, v in tracked.items()},
            "peak_rss_mib": max(samples) / 1024,
            "rss_mib_first_third": max(samples[: max(1, len(samples) // 3)]) / 1024,
            "rss_mib_last_third": max(samples[-max(1, len(samples) // 3):]) / 1024}


def end_to_end(batches, send_log, skip_s=1.0):
    """Every line's end-to-end latency: from its send time (the generator's send log) to the
    moment the output of the batch holding it finished (`done`); lines are matched to batches
    by position, since the socket keeps their order. Returns (latency ms, lines) pairs, the
    first `skip_s` seconds and the last batch (the stop's drain) left out."""
    sends = []
    with open(send_log) as f:
        for line in f:
            a, b = line.split()
            sends.append((int(a), int(b)))
    if not sends or not batches:
        return []
    batches = sorted(batches, key=lambda x: x["time"])
    bounds, total = [], 0
    for b in batches:
        total += b["records"]
        bounds.append(total)  # lines [previous bound, bound) are in this batch
    start_us = sends[0][1] + skip_s * 1e6
    ends = [s[0] for s in sends[1:]] + [bounds[-1]]
    out, k = [], 0
    for (first, t_us), end in zip(sends, ends):
        line = first
        while line < end and k < len(batches) - 1:
            if line >= bounds[k]:
                k += 1
                continue
            n = min(end, bounds[k]) - line
            if t_us >= start_us and batches[k]["done_us"]:
                out.append(((batches[k]["done_us"] - t_us) / 1000, n))
            line += n
    return out


def weighted_pct(pairs, p):
    """The p-th percentile of (value, weight) pairs."""
    pairs = sorted(pairs)
    total = sum(w for _, w in pairs)
    if not total:
        return 0.0
    want, seen = p / 100 * total, 0
    for v, w in pairs:
        seen += w
        if seen >= want:
            return v
    return pairs[-1][0]


def steal_ticks():
    """CPU time stolen by the hypervisor so far (USER_HZ ticks, all CPUs), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8])
    except (OSError, IndexError, ValueError):
        return 0


def latency_run(rate, batch_ms, seconds, extra_env=None):
    """The word count at `rate` lines/s with `batch_ms` batches, each line's end-to-end latency
    measured: median, p99, max (ms), the lines measured, and the share of CPU time the
    hypervisor stole during the run."""
    hz = os.sysconf("SC_CLK_TCK")
    before, started = steal_ticks(), time.time()
    with tempfile.TemporaryDirectory(prefix="spate-bench-e2e-") as d:
        log_path = os.path.join(d, "sends")
        run = run_job(rate, batch_ms, seconds, extra_env=extra_env, send_log=log_path)
        pairs = end_to_end(run["batches"], log_path)
    stolen = (steal_ticks() - before) / hz / ((time.time() - started) * (os.cpu_count() or 1))
    lines = sum(w for _, w in pairs)
    return run, {"median": weighted_pct(pairs, 50), "p99": weighted_pct(pairs, 99),
                 "max": max((v for v, _ in pairs), default=0.0), "lines": lines,
                 "steal": stolen}


def converged_within(batches, target, within=0.1):
    """The first batch (counting from 1) from which the records per batch, averaged over three
    consecutive batches, stay within `within` of `target` to the end; None if they never do.
    (Averaged: one batch's size also swings with where the block cuts fell.)"""
    r = [x["records"] for x in batches]
    for i in range(len(r) - 2):
        tail = [statistics.mean(r[j:j + 3]) for j in range(i, len(r) - 2)]
        if all(abs(m - target) <= within * target for m in tail):
            return i + 1
    return None


def keeps_up(run, rate, batch_ms, seconds):
    """Steady state: input arrives at the generator's rate, and scheduling delay neither grows
    nor exceeds an interval (with a floor of 50 ms for timer jitter)."""
    b = run["batches"][:-1]  # the last is the graceful stop's drain
    warm = max(2, int(1000 / batch_ms))  # skip the first second
    b = b[warm:]
    if len(b) < 4 or run["exit"] != 0:
        return False, "too few batches or failed"
    span_s = len(b) * batch_ms / 1000
    got = sum(x["records"] for x in b) / span_s
    third = max(1, len(b) // 3)
    first = statistics.mean(x["sched"] for x in b[:third])
    last = statistics.mean(x["sched"] for x in b[-third:])
    limit = max(batch_ms, 50)
    ok = got >= 0.95 * rate and last <= limit and last <= first + limit
    return ok, f"in {got:,.0f}/s, sched {first:.0f}->{last:.0f} ms"


def tls_cost(args):
    """TLS's cost alone: the 1 s network word count's maximum sustained rate on
    local-cluster[2,1] with TLS (the default) and without, a finer search (steps of 1.15x from
    2.5M lines/s, then two bisections) than the full cluster rows. With --repeat N the two
    alternate N times (TLS, plain, TLS, plain, ...: drift on a shared host hits both alike)
    and the ratio reported is the median of the N pairs' ratios."""
    results = {"date": datetime.date.today().isoformat(),
               "machine": f"{os.cpu_count()} cores, {platform.machine()}", "pairs": []}
    names = [n for n, _ in CLUSTER_CONFIGS if n.startswith("local-cluster")]
    envs = dict(CLUSTER_CONFIGS)
    for i in range(args.repeat):
        pair = {}
        for name in names:
            log(f"== {name}: max sustainable throughput, 1 s batches (pair {i + 1} of {args.repeat})")
            best, tried = search(1000, args.trial_seconds, 2_500_000, 1.15, 20_000_000,
                                 extra_env=envs[name], bisections=2)
            pair[name] = {"max_lines_per_sec": best, "tried": tried}
        pair["tls_ratio"] = pair[names[0]]["max_lines_per_sec"] / max(
            1, pair[names[1]]["max_lines_per_sec"])
        log(f"  pair {i + 1}: TLS / plain = {pair['tls_ratio']:.3f}")
        results["pairs"].append(pair)
    ratios = sorted(p["tls_ratio"] for p in results["pairs"])
    results["tls_ratio"] = statistics.median(ratios)
    for name in names:
        results[name] = {"max_lines_per_sec": int(statistics.median(
            p[name]["max_lines_per_sec"] for p in results["pairs"]))}
    os.makedirs("bench-results", exist_ok=True)
    json.dump(results, open("bench-results/tls.json", "w"), indent=2)
    print("| 1 s batches, max sustained | " + " | ".join(names) + " | TLS / plain |")
    print("|---" * (len(names) + 2) + "|")
    for i, p in enumerate(results["pairs"]):
        print(f"| network word count, pair {i + 1} | "
              + " | ".join(f"{p[n]['max_lines_per_sec']:,} lines/s" for n in names)
              + f" | {p['tls_ratio']:.2f}x |")
    if len(ratios) > 1:
        print(f"| median of {len(ratios)} pairs | "
              + " | ".join(f"{results[n]['max_lines_per_sec']:,} lines/s" for n in names)
              + f" | {results['tls_ratio']:.2f}x |")


def search(batch_ms, seconds, start, factor, ceiling, extra_env=None, bisections=1,
           receivers=1):
    """Rising-rate search: multiply the rate while it keeps up, then bisect."""
    best, rate, tried = 0, start, []
    while rate <= ceiling:
        run = run_job(rate, batch_ms, seconds, extra_env=extra_env, receivers=receivers)
        ok, why = keeps_up(run, rate, batch_ms, seconds)
        tried.append({"rate": rate, "ok": ok, "why": why, "peak_rss_mib": run["peak_rss_mib"]})
        log(f"  {batch_ms} ms batches @ {rate:,} lines/s: {'ok' if ok else 'NO'} ({why})")
        if not ok:
            break
        best, rate = rate, int(rate * factor)
    failed = rate
    for _ in range(bisections if best and rate <= ceiling else 0):
        mid = int((best + failed) / 2)
        run = run_job(mid, batch_ms, seconds, extra_env=extra_env, receivers=receivers)
        ok, why = keeps_up(run, mid, batch_ms, seconds)
        tried.append({"rate": mid, "ok": ok, "why": why, "peak_rss_mib": run["peak_rss_mib"]})
        log(f"  {batch_ms} ms batches @ {mid:,} lines/s: {'ok' if ok else 'NO'} ({why})")
        if ok:
            best = mid
        else:
            failed = mid
    return best, tried


def steadiness(batches):
    """Coefficient of variation of records per batch (0: every batch the same size)."""
    r = [x["records"] for x in batches]
    return statistics.pstdev(r) / statistics.mean(r) if len(r) > 1 and statistics.mean(r) > 0 else 0.0


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else 0.0


def rss_kib(pid, field="VmRSS"):
    """A process's resident memory in KiB: all of it (`VmRSS`), or only its anonymous pages
    (`RssAnon`: the heap, without the binary's code paged in as paths warm up)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid):
    """The direct children of `pid` (a local-cluster driver's executors)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return sorted(out)


def slope_mib_per_hour(samples):
    """Least-squares slope of (seconds, KiB) samples, in MiB per hour."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    sxx = sum((t - mx) ** 2 for t, _ in samples) or 1e-9
    sxy = sum((t - mx) * (v - my) for t, v in samples)
    return sxy / sxx * 3600 / 1024


def soak(args):
    """The network word count on local-cluster[2,1], 100 ms batches at --soak-rate lines/s, for
    --minutes; the RSS of the driver and each executor every 5 s; each one's slope after the
    first fifth (warm-up), and its first, middle and last values."""
    seconds = args.minutes * 60
    log(f"== soak: local-cluster[2,1], {args.soak_batch_ms} ms batches, {args.soak_rate:,} lines/s, "
        f"{args.minutes:g} min")
    gen = Generator(args.soak_rate, None)
    env = dict(os.environ, SPATE_MASTER="local-cluster[2,1]", RUST_LOG="error")
    job = subprocess.Popen([JOB, "127.0.0.1", str(gen.port), str(args.soak_batch_ms), str(seconds)],
                           stdout=subprocess.PIPE, text=True, env=env)
    # Read the job's output as it comes: a full pipe would block its listener (and queue its
    # events) — not what a soak measures.
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(job.stdout), daemon=True)
    reader.start()
    series, anon_series = {}, {}
    started = time.time()
    while job.poll() is None:
        t = time.time() - started
        procs = {"driver": job.pid}
        procs.update({f"executor-{i}": p for i, p in enumerate(children(job.pid))})
        for name, pid in procs.items():
            kib, anon = rss_kib(pid), rss_kib(pid, "RssAnon")
            if kib and anon:  # None once gone, 0 while a process is still being set up
                series.setdefault(name, []).append((t, kib))
                anon_series.setdefault(name, []).append((t, anon))
        time.sleep(5)
    reader.join(timeout=30)
    out = "".join(lines)
    gen.kill()
    batches = BATCH_RE.findall(out)
    behind = [float(m[3]) for m in batches][-10:]
    results = {"minutes": args.minutes, "rate": args.soak_rate, "batch_ms": args.soak_batch_ms,
               "batches": len(batches),
               "last_sched_ms": behind, "processes": {}}
    for name, samples in sorted(series.items()):
        steady = [x for x in samples if x[0] >= seconds / 5]
        anon = anon_series[name]
        mid = samples[len(samples) // 2][1] if samples else 0
        results["processes"][name] = {
            "slope_mib_per_hour": slope_mib_per_hour(steady),
            "anon_slope_mib_per_hour": slope_mib_per_hour([x for x in anon if x[0] >= seconds / 5]),
            "first_mib": samples[0][1] / 1024, "middle_mib": mid / 1024, "last_mib": samples[-1][1] / 1024,
            "anon_first_mib": anon[0][1] / 1024, "anon_middle_mib": anon[len(anon) // 2][1] / 1024,
            "anon_last_mib": anon[-1][1] / 1024,
            "samples": len(samples),
            # (seconds, KiB) every 5 s, to look at the curve again later.
            "series": samples, "anon_series": anon}
        r = results["processes"][name]
        log(f"  {name}: RSS {r['first_mib']:.1f} -> {r['middle_mib']:.1f} -> {r['last_mib']:.1f} MiB, "
            f"slope after warm-up {r['slope_mib_per_hour']:+.2f} MiB/h; anonymous "
            f"{r['anon_first_mib']:.1f} -> {r['anon_middle_mib']:.1f} -> {r['anon_last_mib']:.1f} MiB, "
            f"{r['anon_slope_mib_per_hour']:+.2f} MiB/h ({r['samples']} samples)")
    log(f"  {len(batches)} batches; scheduling delay of the last ten: {behind}")
    os.makedirs(os.path.join(ROOT, "bench-results"), exist_ok=True)
    json.dump(results, open(os.path.join(ROOT, "bench-results", "soak.json"), "w"), indent=2)
    print("| process | RSS first / middle / last | slope after warm-up | anonymous RSS first / "
          "middle / last | its slope |")
    print("|---|---|---|---|---|")
    for name, r in results["processes"].items():
        print(f"| {name} | {r['first_mib']:.1f} / {r['middle_mib']:.1f} / {r['last_mib']:.1f} MiB | "
              f"{r['slope_mib_per_hour']:+.2f} MiB/h | {r['anon_first_mib']:.1f} / "
              f"{r['anon_middle_mib']:.1f} / {r['anon_last_mib']:.1f} MiB | "
              f"{r['anon_slope_mib_per_hour']:+.2f} MiB/h |")
    return 0


# The cluster rows' configurations: local mode, and local-cluster with TLS (the default) and
# without, so TLS's cost is measured in the same run.
CLUSTER_CONFIGS = (
    ("local[2]", {"SPATE_MASTER": "local[2]"}),
    ("local-cluster[2,1]", {"SPATE_MASTER": "local-cluster[2,1]"}),
    ("local-cluster[2,1] plain", {"SPATE_MASTER": "local-cluster[2,1]",
                                  "SPATE_CONF_spate.rpc.tls.enabled": "false"}),
)


# Where receivers run, on local-cluster[2,1] against local[2]: (name, environment, sockets).
RECEIVER_CONFIGS = (
    ("local[2]", {"SPATE_MASTER": "local[2]"}, 1),
    ("receiver on an executor", {"SPATE_MASTER": "local-cluster[2,1]"}, 1),
    ("receiver on an executor, one copy", {"SPATE_MASTER": "local-cluster[2,1]",
                                            "SPATE_CONF_spate.streaming.receiver.replication": "1"}, 1),
    ("two receivers on executors", {"SPATE_MASTER": "local-cluster[2,1]"}, 2),
    ("receiver on the driver", {"SPATE_MASTER": "local-cluster[2,1]",
                                "SPATE_CONF_spate.streaming.receiver.placement": "driver"}, 1),
)


def receivers_bench(args):
    """Receivers on executors, one run: the 1 s network word count's maximum sustained rate on
    local-cluster[2,1] with its receiver on an executor (its blocks copied to the other, and
    not), with two receivers (two sockets, half the rate each), and with the receiver on the
    driver (as before), against local[2]; then at
    one rate all keep up with, the bytes the driver received over TCP per byte the receivers
    got, and its peak RSS."""
    results = {"date": datetime.date.today().isoformat(),
               "machine": f"{os.cpu_count()} cores, {platform.machine()}"}
    for name, env, n in RECEIVER_CONFIGS:
        log(f"== {name}: max sustainable throughput, 1 s batches")
        best, tried = search(1000, args.trial_seconds, 1_000_000, 1.4, 20_000_000,
                             extra_env=env, bisections=2, receivers=n)
        results[name] = {"max_lines_per_sec": best, "tried": tried}
    best = {n: max(1, results[n]["max_lines_per_sec"]) for n, _, _ in RECEIVER_CONFIGS}
    common = int(min(best.values()) * 0.8) // 1000 * 1000
    for name, env, n in RECEIVER_CONFIGS[1:]:
        log(f"== {name}: {common:,} lines/s for {args.trial_seconds} s: the driver's TCP bytes and RSS")
        run = run_job(common, 1000, args.trial_seconds, extra_env=env, receivers=n,
                      receivers_measured=True)
        sent = (run["sent"] or {}).get("bytes", 0)
        results[name]["at_common_rate"] = {
            "rate": common, "sent_bytes": sent, "driver_tcp_received": run["driver_tcp_received"],
            "driver_bytes_per_received_byte": run["driver_tcp_received"] / max(1, sent),
            "driver_peak_rss_mib": run["peak_rss_mib"]}
    os.makedirs("bench-results", exist_ok=True)
    json.dump(results, open("bench-results/receivers.json", "w"), indent=2)
    local = best["local[2]"]
    print("| 1 s batches, network word count | max sustained | / local[2] | driver's TCP bytes "
          f"per received byte @ {common:,}/s | driver peak RSS |")
    print("|---|---|---|---|---|")
    for name, _, _ in RECEIVER_CONFIGS:
        at = results[name].get("at_common_rate")
        print(f"| {name} | {best[name]:,} lines/s | {best[name] / local:.2f}x | "
              + (f"{at['driver_bytes_per_received_byte']:.3f} | {at['driver_peak_rss_mib']:.0f} MiB |"
                 if at else "– | – |"))
    return 0


def cluster_latency(seconds):
    """A batch's fixed cost and latency on local-cluster[2,1] (TLS on and off) against
    local[2], one run: near-empty 10 ms batches (a line every 100 ms: processing time of the
    batches with none is the fixed cost), and the word count at 100k lines/s in 10 ms batches
    (total delay)."""
    rows = {}
    for name, env in CLUSTER_CONFIGS:
        log(f"== {name}: 10 ms batches, a line every 100 ms, {seconds:.0f} s")
        quiet = run_job(10, 10, seconds, extra_env=env)["batches"][100:-10]
        empty = [b["proc"] for b in quiet if b["records"] == 0]
        log(f"== {name}: 100k lines/s, 10 ms batches, {seconds:.0f} s")
        busy = run_job(100_000, 10, seconds, extra_env=env)["batches"][100:-10]
        rate = sum(b["records"] for b in busy) / max(1e-9, len(busy) * 0.010)
        totals = [b["total"] for b in busy]
        rows[name] = {
            "empty_batch_proc_ms": {"median": pct(empty, 50), "p99": pct(empty, 99),
                                    "batches": len(empty)},
            "100k_10ms": {"lines_per_sec": rate, "total_ms_median": pct(totals, 50),
                          "total_ms_p99": pct(totals, 99), "total_ms_max": max(totals, default=0)},
        }
        log(f"  empty batches: processing median {pct(empty, 50)} ms, p99 {pct(empty, 99)} ms "
            f"({len(empty)} batches); 100k lines/s at 10 ms: {rate:,.0f} lines/s taken, total "
            f"delay median {pct(totals, 50)} / p99 {pct(totals, 99)} / max {max(totals, default=0)} ms")
    return rows


def cluster(args):
    """The cluster rows: a batch's fixed cost and 10 ms latency (`cluster_latency`), then the
    1 s network word count's maximum sustained rate on local-cluster[2,1] (two executor
    processes, remote shuffle; TLS on and off) against local[2], one run."""
    results = {"date": datetime.date.today().isoformat(),
               "machine": f"{os.cpu_count()} cores, {platform.machine()}"}
    results["latency"] = cluster_latency(15)
    lat = results["latency"]
    names = [n for n, _ in CLUSTER_CONFIGS]
    print("| 10 ms batches | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, f in (("empty batch: processing median / p99",
                      lambda r: f"{r['empty_batch_proc_ms']['median']} / {r['empty_batch_proc_ms']['p99']} ms"),
                     ("100k lines/s: total delay median / p99 / max",
                      lambda r: f"{r['100k_10ms']['total_ms_median']} / {r['100k_10ms']['total_ms_p99']} / "
                                f"{r['100k_10ms']['total_ms_max']} ms ({r['100k_10ms']['lines_per_sec']:,.0f} lines/s)")):
        print(f"| {label} | " + " | ".join(f(lat[n]) for n in names) + " |")
    if args.latency:
        json.dump(results, open(os.path.join(ROOT, "bench-results", "cluster.json"), "w"), indent=2)
        return 0
    for name, env in CLUSTER_CONFIGS:
        log(f"== {name}: max sustainable throughput, 1 s batches")
        best, tried = search(1000, args.trial_seconds, 250_000, 1.5, 20_000_000,
                             extra_env=env, bisections=3)
        results[name] = {"max_lines_per_sec": best, "tried": tried}
    best = {n: max(1, results[n]["max_lines_per_sec"]) for n in names}
    results["ratio"] = best["local-cluster[2,1]"] / best["local[2]"]
    results["tls_ratio"] = best["local-cluster[2,1]"] / best["local-cluster[2,1] plain"]
    os.makedirs("bench-results", exist_ok=True)
    json.dump(results, open("bench-results/cluster.json", "w"), indent=2)
    print("| 1 s batches, max sustained | " + " | ".join(names)
          + " | cluster / local | TLS / plain |")
    print("|---" * (len(names) + 3) + "|")
    print("| network word count | " + " | ".join(f"{best[n]:,} lines/s" for n in names)
          + f" | {results['ratio']:.2f}x | {results['tls_ratio']:.2f}x |")


def find_tansu():
    """The Kafka-compatible broker the Kafka row reads from (scripts/setup installs it)."""
    cargo_bin = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), "bin")
    for d in os.environ.get("PATH", "").split(os.pathsep) + [cargo_bin]:
        path = os.path.join(d, "tansu")
        if os.path.isfile(path):
            return path
    return None


def kafka_row(lines, seconds):
    """Records/s through the word count from Kafka: `lines` records (a line each) produced
    into a 2-partition topic of a tansu broker on this machine (SQLite storage), then read by
    the benchmark job's Kafka direct stream from the earliest offsets, 1 s batches, no rate
    limit. The rate is the records counted over the processing time of the batches that read
    them (the broker's reads included)."""
    tansu = find_tansu()
    if tansu is None:
        return None, "tansu is not installed (cargo install --locked tansu --version 0.6.0 --features libsql)"
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="spate-bench-kafka-") as d:
        broker = subprocess.Popen([tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
                                   "--storage-engine", "sqlite://tansu.db"], cwd=d,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline or broker.poll() is not None:
                        return None, "tansu did not start"
                    time.sleep(0.05)
            produced = subprocess.run([GEN, "--kafka", f"127.0.0.1:{port}", "--topic", "words",
                                       "--partitions", "2", "--lines", str(lines)],
                                      capture_output=True, text=True, timeout=900)
            m = re.search(r"SENT lines=(\d+) words=\d+ seconds=([\d.]+)", produced.stdout)
            if not m:
                return None, f"producing failed: {produced.stderr.strip()[:300]}"
            env = dict(os.environ, SPATE_MASTER="local[2]", RUST_LOG="error",
                       SPATE_BENCH_KAFKA=f"127.0.0.1:{port}/words")
            env["SPATE_CONF_spate.streaming.backpressure.enabled"] = "false"
            import resource
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            broker_before = cpu_seconds(broker.pid)
            job = subprocess.run([JOB, "127.0.0.1", "1", "1000", str(seconds)], capture_output=True,
                                 text=True, env=env, timeout=seconds + 120)
            broker_cpu = cpu_seconds(broker.pid) - broker_before
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            job_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        finally:
            broker.kill()
            broker.wait()
    batches = [(int(b[1]), int(b[2]), float(b[4])) for b in BATCH_RE.findall(job.stdout)]
    read = [b for b in batches if b[0] > 0]
    records = sum(b[0] for b in read)
    words = sum(b[1] for b in read)
    proc_s = sum(b[2] for b in read) / 1000
    return {"lines": lines, "produce_lines_per_sec": int(m.group(1)) / max(1e-9, float(m.group(2))),
            "records_read": records, "exact": records == lines and words == 10 * lines,
            "batches_reading": len(read), "processing_s": proc_s,
            "records_per_sec": records / max(1e-9, proc_s),
            "broker_cpu_s": broker_cpu, "job_cpu_s": job_cpu}, None


def cpu_seconds(pid):
    """User + system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SPARK_JOB_SRC = os.path.join(ROOT, "..", "shared", "bench", "spark", "WordCountBench.java")
SPARK_RE = re.compile(r"BATCH time=(\d+) records=(\d+) sched=(\d+) proc=(\d+) total=(\d+)")


def spark_setup():
    """spark-submit and the Spark job's jar (compiled from ../shared into target/spark-bench),
    or None with the reason."""
    home = os.environ.get("SPARK_HOME")
    if not home:
        return None, "SPARK_HOME is not set (see ../shared/bench/spark/README.md: pip's pyspark==4.3.0 provides it)"
    submit = os.path.join(home, "bin", "spark-submit")
    if not os.path.exists(submit):
        return None, f"{submit} is missing"
    if not os.path.exists(SPARK_JOB_SRC):
        return None, f"{SPARK_JOB_SRC} is missing"
    out = os.path.join(ROOT, "target", "spark-bench")
    jar = os.path.join(out, "wcbench.jar")
    if not os.path.exists(jar) or os.path.getmtime(jar) < os.path.getmtime(SPARK_JOB_SRC):
        os.makedirs(out, exist_ok=True)
        cp = os.path.join(home, "jars", "*")
        subprocess.run(["javac", "-nowarn", "-cp", cp, "-d", out, SPARK_JOB_SRC], check=True,
                       capture_output=True)
        classes = [f for f in os.listdir(out) if f.endswith(".class")]
        subprocess.run(["jar", "cf", "wcbench.jar"] + classes, cwd=out, check=True)
    return (submit, jar), None


def run_spark(spark, rate, batch_ms, seconds):
    """The Spark job against the same generator: its batches (records, sched, proc, total)."""
    submit, jar = spark
    gen = Generator(rate)
    cmd = [submit, "--master", "local[2]", "--driver-memory", "4g", "--conf", "spark.ui.enabled=false",
           "--class", "WordCountBench", jar, "127.0.0.1", str(gen.port), str(batch_ms), str(int(seconds))]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 180).stdout
    gen.kill()
    return [dict(zip(("time", "records", "sched", "proc", "total"), map(int, m)))
            for m in SPARK_RE.findall(out)]


def spark_keeps_up(batches, rate, batch_ms):
    """Spark warms up slowly: judged on the second half — input at the rate, delay not growing."""
    b = batches[len(batches) // 2:]
    if len(b) < 4:
        return False, "too few batches"
    got = sum(x["records"] for x in b) * 1000 / (len(b) * batch_ms)
    half = len(b) // 2
    first = statistics.mean(x["sched"] for x in b[:half])
    last = statistics.mean(x["sched"] for x in b[half:])
    ok = got >= 0.95 * rate and last <= first + batch_ms
    return ok, f"in {got:,.0f}/s, sched {first:.0f}->{last:.0f} ms"


def spark_rows(spark, seconds):
    """Spark's side of the table, measured now: the highest of a few rates it keeps up with at
    1 s batches, and its delays at 100k lines/s with 100 ms batches."""
    res = {"throughput_1000": 0, "trials": []}
    for rate in (150_000, 300_000, 450_000, 600_000, 900_000):
        ok, why = spark_keeps_up(run_spark(spark, rate, 1000, seconds), rate, 1000)
        res["trials"].append({"rate": rate, "ok": ok, "why": why})
        log(f"  Spark, 1 s batches @ {rate:,} lines/s: {'ok' if ok else 'NO'} ({why})")
        if not ok:
            break
        res["throughput_1000"] = rate
    b = run_spark(spark, 100_000, 100, seconds)
    total = [x["total"] for x in b[len(b) // 2:]]
    res["latency_100"] = {"median": pct(total, 50), "p99": pct(total, 99)}
    log(f"  Spark, 100 ms batches @ 100,000 lines/s: total delay {res['latency_100']}")
    return res


def ui_overhead(args):
    """The UI's cost: the 1 s word count flooded (offered more than it can take, so it runs
    at capacity), with the UI on and off, alternating, `args.repeats` times each; the median
    lines/s taken in of each, and their ratio."""
    seconds = max(args.trial_seconds, 10)
    taken = {"true": [], "false": []}
    for i in range(args.repeats):
        for ui in ("true", "false"):
            run = run_job(8_000_000, 1000, seconds, extra_env={"SPATE_CONF_SPATE_UI_ENABLED": ui})
            b = run["batches"][1:-1]  # the first is warm-up, the last the stop's drain
            rate = sum(x["records"] for x in b) / max(1, len(b))
            taken[ui].append(rate)
            log(f"  run {i + 1}, UI {'on' if ui == 'true' else 'off'}: {rate:,.0f} lines/s")
    on, off = statistics.median(taken["true"]), statistics.median(taken["false"])
    result = {"date": datetime.date.today().isoformat(),
              "machine": f"{os.cpu_count()} cores, {platform.machine()}",
              "ui_on_lines_per_sec": taken["true"], "ui_off_lines_per_sec": taken["false"],
              "median_on": on, "median_off": off, "ratio": on / off}
    os.makedirs("bench-results", exist_ok=True)
    json.dump(result, open("bench-results/ui.json", "w"), indent=2)
    print("| 1 s batches, flooded | UI off | UI on | on / off |")
    print("|---|---|---|---|")
    print(f"| network word count (median of {args.repeats}) | {off:,.0f} lines/s | {on:,.0f} lines/s "
          f"| {on / off:.3f} |")


def latency_rows(seconds, batch_sizes=(100, 10, 2, 1)):
    """The word count at 100k lines/s for `seconds` at each batch size: delays per batch and
    end-to-end latency per line, with the CPU the hypervisor stole meanwhile."""
    log(f"== latency at 100k lines/s, {seconds:.0f} s runs")
    rows = {}
    for batch_ms in batch_sizes:
        run, e2e = latency_run(100_000, batch_ms, seconds)
        b = run["batches"][int(1000 / batch_ms):-1]
        proc = [x["proc"] for x in b]
        total = [x["total"] for x in b]
        rows[str(batch_ms)] = {
            "proc_ms": {"median": pct(proc, 50), "p99": pct(proc, 99), "max": max(proc, default=0)},
            "total_ms": {"median": pct(total, 50), "p99": pct(total, 99), "max": max(total, default=0)},
            "end_to_end_ms": e2e, "seconds": seconds,
            "peak_rss_mib": run["peak_rss_mib"]}
        log(f"  {batch_ms} ms: end-to-end median {e2e['median']:.2f} / p99 {e2e['p99']:.2f} / "
            f"max {e2e['max']:.1f} ms over {e2e['lines']:,} lines, steal {e2e['steal']:.1%}")
    return rows


def max_sustainable(args, ceiling, intervals):
    """The rising-rate search for the highest rate that keeps up, per batch interval (ms)."""
    starts = {1000: 500_000, 100: 250_000, 10: 100_000}
    rows = {}
    log("== max sustainable throughput")
    for batch_ms in intervals:
        # At least eight batches per trial (the first second is warm-up, the last the drain).
        seconds = max(args.trial_seconds, 8 * batch_ms / 1000 + 2)
        # Up to 3x the one-thread ceiling: two cores can beat it (spate does at 100 ms batches).
        # Two bisections: the 1.5x steps alone resolve the maximum only to a third.
        best, tried = search(batch_ms, seconds, starts.get(batch_ms, 100_000), 1.5, ceiling * 3,
                             bisections=2)
        rows[str(batch_ms)] = {"max_lines_per_sec": best, "trials": tried}
    return rows


def confirm_1s(args, results):
    """Short trials flatter 1 s batches (few batches, queues not yet full): the 1 s figure is
    the highest rate that also keeps up for the full confirmation run, stepping down if not."""
    ok_rates = sorted((tr["rate"] for tr in results["throughput"]["1000"]["trials"] if tr["ok"]),
                      reverse=True)
    # The search steps by 1.5x: should the top rate not hold for the full run, try halfway down
    # to the next one before settling for it.
    candidates = ok_rates[:1]
    if len(ok_rates) > 1:
        candidates += [(ok_rates[0] + ok_rates[1]) // 2, ok_rates[1]]
    confirmed = 0
    for rate in candidates:
        log(f"== confirmation: {args.confirm_seconds:.0f} s at {rate:,} lines/s, 1 s batches")
        run = run_job(rate, 1000, args.confirm_seconds)
        ok, why = keeps_up(run, rate, 1000, args.confirm_seconds)
        results.setdefault("confirmations", []).append(
            {"rate": rate, "seconds": args.confirm_seconds, "ok": ok, "why": why,
             "peak_rss_mib": run["peak_rss_mib"], "rss_mib_first_third": run["rss_mib_first_third"],
             "rss_mib_last_third": run["rss_mib_last_third"]})
        log(f"  {'ok' if ok else 'NO'} ({why}); RSS {run['rss_mib_first_third']:.0f} -> "
            f"{run['rss_mib_last_third']:.0f} MiB")
        if ok:
            confirmed = rate
            break
    results["throughput"]["1000"]["short_trial_max"] = results["throughput"]["1000"]["max_lines_per_sec"]
    return confirmed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trial-seconds", type=float, default=8)
    ap.add_argument("--confirm-seconds", type=float, default=60)
    ap.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    ap.add_argument("--long", action="store_true",
                    help="60 s latency and flood runs (issue 17's targets are stated over 60 s)")
    ap.add_argument("--tls-cost", action="store_true",
                    help="only TLS's cost: local-cluster[2,1] with and without TLS, finer search")
    ap.add_argument("--repeat", type=int, default=1,
                    help="--tls-cost: alternate TLS and plain this many times, report the median")
    ap.add_argument("--receivers", action="store_true",
                    help="only the receivers' rows: on an executor, two, on the driver, local[2]")
    ap.add_argument("--cluster", action="store_true",
                    help="only the cluster row: local-cluster[2,1] against local[2]")
    ap.add_argument("--kafka", action="store_true",
                    help="only the Kafka row: a 500k-record backlog through the word count, and the ceiling")
    ap.add_argument("--latency", action="store_true",
                    help="only the latency rows (1, 2, 10 and 100 ms batches at 100k lines/s); "
                         "with --long, 60 s each")
    ap.add_argument("--ui-overhead", action="store_true",
                    help="only the UI's cost: the flooded 1 s word count with the UI on and off")
    ap.add_argument("--throughput", metavar="MS[,MS...]",
                    help="only the ceiling and the max sustainable rows at these batch intervals "
                         "(e.g. 1000,10; the 1 s row with its confirmation run): a before/after check")
    ap.add_argument("--soak", action="store_true",
                    help="only the soak: local-cluster[2,1], 100 ms batches, RSS of every process")
    ap.add_argument("--minutes", type=float, default=30, help="the soak's length")
    ap.add_argument("--soak-rate", type=int, default=200_000,
                    help="the soak's offered lines/s (about a fifth of local-cluster's capacity)")
    ap.add_argument("--soak-batch-ms", type=int, default=100,
                    help="the soak's batch interval (shorter batches tell a per-batch leak from a "
                         "per-hour one)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--with-spark", action="store_true",
                    help="also run the Spark Streaming job of ../shared/bench/spark beside spate "
                         "(needs SPARK_HOME) and print each row's ratio")
    ap.add_argument("--spark-seconds", type=float, default=45,
                    help="length of each Spark run (judged on its second half)")
    args = ap.parse_args()
    if args.ui_overhead:
        return ui_overhead(args)
    if args.quick:
        args.trial_seconds, args.confirm_seconds = 4, 6
    if args.soak:
        return soak(args)
    if args.tls_cost:
        return tls_cost(args)
    if args.receivers:
        return receivers_bench(args)
    if args.cluster:
        os.makedirs(os.path.join(ROOT, "bench-results"), exist_ok=True)
        return cluster(args)
    for exe in (GEN, JOB, CEILING):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: run scripts/bench, which builds it")
    if args.latency:
        print(json.dumps(latency_rows(60 if args.long else 15), indent=2))
        return 0
    started = time.time()
    results = {"date": datetime.date.today().isoformat(),
               "machine": f"{os.cpu_count()} cores, {platform.machine()}", "spark_baseline": SPARK_BASELINE}

    log("== ceiling: one thread, same socket, same hasher")
    gen = Generator(0, 20_000_000)
    out = subprocess.run([CEILING, "127.0.0.1", str(gen.port)], capture_output=True, text=True).stdout
    gen.summary()
    ceiling = float(re.search(r"lines_per_sec=(\d+)", out).group(1))
    results["ceiling_lines_per_sec"] = ceiling
    log(f"  {ceiling:,.0f} lines/s")

    if args.kafka:
        kafka, why = kafka_row(500_000, 40)
        if not kafka:
            sys.exit(f"Kafka row not measured: {why}")
        print(json.dumps(dict(kafka, ceiling_lines_per_sec=ceiling,
                              ratio_to_ceiling=kafka["records_per_sec"] / ceiling), indent=2))
        return 0 if kafka["exact"] else 1

    log("== correctness: 2,000,000 lines at 1M lines/s, 1 s batches")
    run = run_job(1_000_000, 1000, 5, lines=2_000_000, track="w0,w1,w9")
    counted = sum(b["records"] for b in run["batches"])
    words = sum(b["words"] for b in run["batches"])
    sent = run["sent"] or {"lines": -1, "counts": {}}
    correct = (counted == sent["lines"] == 2_000_000 and words == 10 * counted
               and run["tracked"] == sent["counts"])
    results["correctness"] = {"lines_sent": sent["lines"], "lines_counted": counted,
                              "words_counted": words, "tracked": run["tracked"],
                              "expected": sent["counts"], "exact": correct}
    log(f"  {'exact' if correct else 'WRONG'}: {results['correctness']}")

    if args.throughput:
        intervals = [int(ms) for ms in args.throughput.split(",")]
        results["throughput"] = max_sustainable(args, ceiling, intervals)
        if 1000 in intervals:
            results["throughput"]["1000"]["max_lines_per_sec"] = confirm_1s(args, results)
        print(json.dumps({ms: dict(max_lines_per_sec=v["max_lines_per_sec"],
                                   ratio_to_ceiling=v["max_lines_per_sec"] / ceiling)
                          for ms, v in results["throughput"].items()}
                         | {"ceiling_lines_per_sec": ceiling}, indent=2))
        return 0

    results["throughput"] = max_sustainable(args, ceiling, (1000, 100, 10))

    # Offered as much as the socket takes (several times what the job can process), default
    # settings. The first 10 batches are the controller's to converge in; steadiness is judged
    # after them.
    flood_s = 60 if args.long else max(args.trial_seconds, 20)
    log(f"== flood (rate 0), 1 s batches, {flood_s:.0f} s, default settings")
    flood = run_job(0, 1000, flood_s)
    b = flood["batches"][1:-1]
    steady = b[10:] or b
    flood_rate = sum(x["records"] for x in steady) / max(1, len(steady))
    cv = steadiness(steady)
    results["flood"] = {"lines_per_sec": flood_rate, "peak_rss_mib": flood["peak_rss_mib"],
                        "last_sched_ms": b[-1]["sched"] if b else None, "records_cv": cv,
                        "max_sched_ms": max((x["sched"] for x in steady), default=0),
                        "records": [x["records"] for x in b]}
    log(f"  {flood_rate:,.0f} lines/s, records per batch CV {cv:.2f} (after 10 batches), "
        f"peak RSS {flood['peak_rss_mib']:.0f} MiB")

    # Right after the flood without it: the two differ by the log alone, not by the hour.
    log("== flood (rate 0), 1 s batches, with the write-ahead log")
    with tempfile.TemporaryDirectory(prefix="spate-bench-wal-", dir=ROOT) as ck:
        wal = run_job(0, 1000, flood_s, extra_env={
            "SPATE_BENCH_CHECKPOINT": ck,
            "SPATE_CONF_spate.streaming.receiver.writeAheadLog.enable": "true"})
    b = wal["batches"][1:-1][10:] or wal["batches"][1:-1]
    wal_rate = sum(x["records"] for x in b) / max(1, len(b))
    results["flood_wal"] = {"lines_per_sec": wal_rate, "peak_rss_mib": wal["peak_rss_mib"],
                            "ratio_to_flood": wal_rate / max(1, flood_rate)}
    log(f"  {wal_rate:,.0f} lines/s ({wal_rate / max(1, flood_rate):.1%} of the flood without it)")

    log("== flood, 1 s batches, backpressure off (no rate estimator: maxPendingRecords only)")
    off = run_job(0, 1000, flood_s, extra_env={"SPATE_CONF_spate.streaming.backpressure.enabled": "false"})
    b_off = off["batches"][1:-1][10:] or off["batches"][1:-1]
    off_rate = sum(x["records"] for x in b_off) / max(1, len(b_off))
    results["flood_backpressure_off"] = {"lines_per_sec": off_rate, "records_cv": steadiness(b_off),
                                         "max_sched_ms": max((x["sched"] for x in b_off), default=0)}
    log(f"  {off_rate:,.0f} lines/s, records per batch CV {steadiness(b_off):.2f}")

    latency_s = 60 if args.long else 15
    results["latency"] = latency_rows(latency_s)

    log("== backpressure from no limit, 20 s flood at 1 s batches: batches to converge")
    conv = run_job(0, 1000, 20)
    results["backpressure_convergence"] = {"records": [x["records"] for x in conv["batches"]]}

    confirmed = confirm_1s(args, results)
    results["throughput"]["1000"]["max_lines_per_sec"] = confirmed
    # The maximum sustained rate this run showed: the confirmed fixed rate, or the flood's
    # steady intake where that is higher and its delay stayed under an interval (the flood
    # then holds it for its whole length with nothing dropped; why a fixed-rate run holds less
    # is not pinned down, and the search's steps are coarse). Convergence is judged against it.
    flood_held = results["flood"]["max_sched_ms"] <= 1000
    reference = max(confirmed, flood_rate if flood_held else 0)
    within = converged_within(conv["batches"][:-1], reference) if reference else None
    results["backpressure_convergence"].update(
        batches_to_within_10pct=within, max_sustained_reference=reference,
        reference_is=("the flood's steady intake" if flood_held and flood_rate > confirmed
                      else "the confirmed fixed rate"),
        batches_to_within_10pct_of_confirmed=converged_within(conv["batches"][:-1], confirmed)
        if confirmed else None)
    # The flood's own steady intake (its second half) is also a sustained rate (delay bounded):
    # from no limit, how soon the batches reach it.
    settled = [x["records"] for x in conv["batches"][1:-1]]
    own = statistics.mean(settled[len(settled) // 2:]) if len(settled) >= 4 else 0
    own_within = converged_within(conv["batches"][:-1], own) if own else None
    results["backpressure_convergence"].update(steady_rate=own, batches_to_within_10pct_of_steady=own_within)
    log(f"  converged to within 10% of the max sustained {reference:,.0f} lines/s "
        f"({results['backpressure_convergence']['reference_is']}) after {within} batches; "
        f"of the confirmed {confirmed:,} after "
        f"{results['backpressure_convergence']['batches_to_within_10pct_of_confirmed']}; "
        f"of its own steady {own:,.0f} after {own_within}")
    log("== Kafka: a 500,000-record backlog of a 2-partition topic (tansu) through the word count")
    kafka, why = kafka_row(500_000, 40)
    results["kafka"] = kafka if kafka else {"not_measured": why}
    if kafka:
        log(f"  {kafka['records_per_sec']:,.0f} records/s over {kafka['batches_reading']} batches "
            f"({'exact' if kafka['exact'] else 'WRONG'}); produced at {kafka['produce_lines_per_sec']:,.0f}/s; "
            f"CPU while reading: broker {kafka['broker_cpu_s']:.1f} s, spate {kafka['job_cpu_s']:.1f} s")
    else:
        log(f"  not measured: {why}")
    spark = None
    if args.with_spark:
        setup, why = spark_setup()
        if setup is None:
            log(f"== Spark: not measured: {why}; printing spate's rows only")
        else:
            log(f"== Spark Streaming, same generator, {args.spark_seconds:.0f} s runs")
            spark_started = time.time()
            spark = spark_rows(setup, args.spark_seconds)
            results["spark"] = spark
            results["spark_seconds"] = time.time() - spark_started
    results["harness_seconds"] = time.time() - started

    os.makedirs(os.path.join(ROOT, "bench-results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench-results", "streaming.json"), "w") as f:
        json.dump(results, f, indent=2)

    t = results["throughput"]
    spark_col = "Spark Streaming 4.3 `local[2]`, this run" if spark else \
        "Spark Streaming 4.3 (baseline, same machine kind; not this run)"
    rows = [
        f"| measure | spate `local[2]` | {spark_col} | spate / Spark |",
        "|---|---|---|---|",
    ]
    for ms, label in (("1000", "1 s"), ("100", "100 ms"), ("10", "10 ms")):
        best = t[ms]["max_lines_per_sec"]
        theirs = (spark["throughput_1000"] if spark else SPARK_BASELINE["1000"]) if ms == "1000" else None
        ratio = f"{best / theirs:.1f}x" if theirs else "—"
        note = " (held for the full confirmation run)" if ms == "1000" else f" ({args.trial_seconds:.0f}+ s trials)"
        rows.append(f"| max sustainable, {label} batches{note} | {best:,} lines/s "
                    f"({best / ceiling:.0%} of the hand-written ceiling) | "
                    f"{f'{theirs:,} lines/s' if theirs else '—'} | {ratio} |")
    last_sched = results["flood"]["last_sched_ms"] or 0
    rows.append(f"| flood (rate 0), 1 s batches, {flood_s:.0f} s, defaults | {flood_rate:,.0f} lines per batch on average "
                f"(records per batch CV {results['flood']['records_cv']:.2f} after the first 10 batches), "
                f"scheduling delay {last_sched:.0f} ms at the end, {results['flood']['max_sched_ms']:.0f} ms at most | 1.2–2.0M lines per batch, 7–9 s each, delay grows (baseline) | — |")
    fo = results["flood_backpressure_off"]
    rows.append(f"| same, backpressure off | {fo['lines_per_sec']:,.0f} lines per batch (CV {fo['records_cv']:.2f}), "
                f"delay {fo['max_sched_ms']:.0f} ms at most | — | — |")
    bc = results["backpressure_convergence"]
    said = lambda n: n if n else "did not converge"
    rows.append(f"| backpressure from no limit: batches until within 10% of the max sustained rate | "
                f"{said(bc['batches_to_within_10pct'])} (max sustained {bc['max_sustained_reference']:,.0f} "
                f"lines/s: {bc['reference_is']}; of the confirmed fixed rate: "
                f"{said(bc['batches_to_within_10pct_of_confirmed'])}; of its own steady "
                f"{bc['steady_rate']:,.0f}: {said(bc['batches_to_within_10pct_of_steady'])}) | — | — |")
    rows.append(f"| flood, 1 s batches, write-ahead log on | {wal_rate:,.0f} lines per batch on average "
                f"({wal_rate / max(1, flood_rate):.1%} of the same without it) | — | — |")
    for ms in ("100", "10", "2", "1"):
        lat = results["latency"][ms]
        if ms == "100" and spark:
            theirs = spark["latency_100"]
            other = f"{theirs['median']:.0f} / {theirs['p99']:.0f} ms (median / p99)"
            ratio = f"1/{theirs['p99'] / max(1, lat['total_ms']['p99']):.0f} (p99)"
        else:
            other = "avg 126 ms, max ~1 s (baseline)" if ms == "100" else "—"
            ratio = "—"
        e = lat["end_to_end_ms"]
        rows.append(f"| 100k lines/s, {ms} ms batches, {lat['seconds']} s: total delay median / p99 / max | "
                    f"{lat['total_ms']['median']:.0f} / {lat['total_ms']['p99']:.0f} / {lat['total_ms']['max']:.0f} ms; "
                    f"end-to-end (measured per line) {e['median']:.2f} / {e['p99']:.2f} / {e['max']:.1f} ms, "
                    f"{e['steal']:.1%} of CPU stolen | {other} | {ratio} |")
    peak = max([results["flood"]["peak_rss_mib"]] + [v["peak_rss_mib"] for v in results["latency"].values()]
               + [tr["peak_rss_mib"] for v in t.values() for tr in v["trials"]])
    rows.append(f"| peak RSS (any run) | {peak:.0f} MiB | — | — |")
    for c in results.get("confirmations", []):
        rows.append(f"| {c['seconds']:.0f} s at {c['rate']:,} lines/s, 1 s batches | "
                    f"{'keeps up' if c['ok'] else 'falls behind'} ({c['why']}), "
                    f"RSS {c['rss_mib_first_third']:.0f} → {c['rss_mib_last_third']:.0f} MiB | — | — |")
    if kafka:
        rows.append(f"| Kafka direct stream, 1 s batches: a 500k-record backlog (2 partitions, tansu on this machine) "
                    f"through the word count | {kafka['records_per_sec']:,.0f} records/s of processing, "
                    f"{'exact' if kafka['exact'] else 'WRONG'}; CPU: broker {kafka['broker_cpu_s']:.1f} s, "
                    f"spate {kafka['job_cpu_s']:.1f} s | — | — |")
    rows.append(f"| hand-written ceiling (1 thread) | {ceiling:,.0f} lines/s | — | — |")
    rows.append(f"| correctness at 2M lines | {'exact' if correct else 'WRONG'} | — | — |")
    spark_part = (f", of which Spark {results['spark_seconds']:.0f} s"
                  if "spark_seconds" in results else "")
    print(f"\nStreaming benchmark, {results['date']}, {results['machine']} "
          f"(harness took {results['harness_seconds']:.0f} s{spark_part})\n")
    print("\n".join(rows))
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
