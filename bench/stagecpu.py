#!/usr/bin/env python3
"""CPU-seconds per pipeline stage of one nfstream run, from `perf record`.

Usage: bench/stagecpu.py [--timeline SECONDS] NFSTREAM [ARGS...]
  e.g. bench/stagecpu.py bin/nfstream -q -o /dev/null /tmp/bench40.pcap
       bench/stagecpu.py bin/nfstream -q --n-dissections 0 -o /dev/null /tmp/bench40.pcap

Runs the command under `perf record -g` (cpu-clock at 4 kHz: a sample is
0.25 ms of CPU) and files every sample under one stage, from its stack:

  reading     the read-ahead goroutine and the parser (capture), incl. the
              kernel's copy out of the page cache
  decoding    decode
  metering    flow (the table, the counters, expiry), but not the nDPI hand-off
  nDPI hand-off  recording nDPI calls and packet copies for the nDPI goroutine
  nDPI        libndpi and the C libraries it calls (libc, libgcrypt): its
              frames cannot be walked back to Go, so every sample in a
              shared library lands here
  nDPI glue   dpi, dpi/ndpi, our C helpers, cgo transitions, the nDPI
              goroutine's own Go frames
  encoding    export (CSV, JSON Lines, Parquet encoders and writer)
  GC          the garbage collector's workers and assists
  page faults first-touch and copy-on-write faults, wherever they happen
  other       scheduler, idle-loop spinning, start-up

With --timeline, also prints the stages' CPU per interval of the run.
Needs `perf` (Debian: linux-perf) and permission to profile.
"""
import collections
import os
import subprocess
import sys
import tempfile

SAMPLE_S = 0.00025  # perf record -F 4000

STAGES = ["reading", "decoding", "metering", "nDPI hand-off", "nDPI",
          "nDPI glue", "encoding", "GC", "page faults", "other"]


def stage(frames):
    """Returns the stage of one sample; frames are leaf first."""
    joined = "\n".join(frames)
    if "asm_exc_page_fault" in joined:
        return "page faults"
    if "gcBgMarkWorker" in joined or "gcAssist" in joined or "bgsweep" in joined:
        return "GC"
    if "capture.(*prefetcher)" in joined:
        return "reading"
    if "nfstream/export." in joined:
        return "encoding"
    leaf = frames[0]
    if _in_c(leaf):
        return "nDPI"
    if "_cgo_" in leaf or " nfs_" in " " + leaf:
        return "nDPI glue"  # cgo stubs and our C helpers
    if "flow.(*dpiWorker).run" in joined:
        return "nDPI glue"
    for f in frames:  # the innermost of our packages decides
        if "/nfstream/capture." in f or "progressSource" in f:
            return "reading"
        if "/nfstream/decode." in f:
            return "decoding"
        if "flow.(*dpiWorker)" in f:
            return "nDPI hand-off"
        if "/nfstream/flow." in f:
            return "metering"
        if "/nfstream/dpi" in f:
            return "nDPI glue"
        if "Streamer).run" in f:
            return "metering"  # the packet loop itself
    return "other"


def _in_c(leaf):
    """Whether the frame (symbol and library) is in a shared C library:
    libndpi or what it calls (libc, libgcrypt)."""
    return leaf.endswith(".so)") or ".so." in leaf


def main(argv):
    bucket = 0.0
    if len(argv) > 2 and argv[1] == "--timeline":
        bucket, argv = float(argv[2]), argv[:1] + argv[3:]
    if len(argv) < 2:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        subprocess.run(["perf", "record", "-q", "-F", "4000", "-e", "cpu-clock",
                        "-g", "-o", data, "--"] + argv[1:], check=True,
                       stdout=subprocess.DEVNULL)
        script = subprocess.run(["perf", "script", "-i", data, "-F", "time,ip,sym,dso"],
                                check=True, capture_output=True, text=True).stdout
    total = collections.Counter()
    timeline = collections.defaultdict(collections.Counter)
    t0 = None
    for block in script.split("\n\n"):
        lines = block.strip().split("\n")
        if len(lines) < 2:
            continue
        t = float(lines[0].split()[0].rstrip(":"))
        t0 = t if t0 is None else min(t0, t)
        frames = [l.split(None, 1)[1] if len(l.split(None, 1)) > 1 else "?" for l in lines[1:]]
        s = stage(frames)
        total[s] += 1
        if bucket:
            timeline[t][s] += 1
    n = sum(total.values())
    print(f"{'stage':<15}{'CPU-s':>7}{'share':>8}")
    for s in STAGES:
        print(f"{s:<15}{total[s] * SAMPLE_S:7.3f}{total[s] / n:8.1%}")
    print(f"{'total':<15}{n * SAMPLE_S:7.3f}")
    if bucket:
        bins = collections.defaultdict(collections.Counter)
        for t, c in timeline.items():
            bins[int((t - t0) / bucket)].update(c)
        print("\nCPU-ms per stage in each interval of %g s (CPUs: average busy)" % bucket)
        short = ["read", "decode", "meter", "hand-off", "nDPI", "glue", "encode",
                 "GC", "faults", "other"]
        print(f"{'t':>6} " + " ".join(f"{s:>8}" for s in short) + "    CPUs")
        for i in range(max(bins) + 1):
            c = bins[i]
            print(f"{i * bucket:6.2f} " + " ".join(f"{c[s] * SAMPLE_S * 1000:8.1f}" for s in STAGES)
                  + f"  {sum(c.values()) * SAMPLE_S / bucket:6.2f}")


if __name__ == "__main__":
    main(sys.argv)
