"""Training throughput on a shared CPU: ours vs TF 2.15 with 0, 1 and 2 competing busy processes (same run).

For each level, ``k`` busy-looping python processes are started (each stops by itself after ``--busy-seconds``
and is also stopped when the level ends), then the DNN case (scripts/bench_premade.py) and the census wide & deep
case (scripts/bench_census.py: end to end, a new estimator's whole train() call, and steady) are timed, ours and
TF's interleaved, with DEFAULT threading on both sides (ours:
RunConfig's 'auto' thread policy; TF: its default session). Prints each side's median examples/s and the
ratio per level. Target (issue 18): >= 1x TF on both cases with two busy neighbours. On a machine that other
people share, "0 busy processes" still has their load: ``procs_running`` at the start of each level is printed.

    .venv/bin/python scripts/bench_contention.py [--levels 0,1,2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench_tf as bt
import bench_census
import bench_premade

BUSY = "import sys, time\nend = time.time() + float(sys.argv[1])\nwhile time.time() < end:\n    pass\n"


def procs_running() -> int:
    with open("/proc/stat", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("procs_running"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="0,1,2", help="numbers of competing busy processes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dnn-rows", type=int, default=100_000)
    parser.add_argument("--census-rows", type=int, default=50_000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--busy-seconds", type=float, default=300, help="upper bound on each busy process's life"
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    results = []
    with bt.TFWorker() as tf_side:
        dnn = bench_premade.prepare(args.dnn_rows, 0, args.warmup, tf_side)["dnn"]
        census = bench_census.prepare(args.census_rows, 0, args.warmup, tf_side)
        for level in (int(x) for x in args.levels.split(",")):
            busy = [
                subprocess.Popen([sys.executable, "-c", BUSY, str(args.busy_seconds)]) for _ in range(level)
            ]
            try:
                time.sleep(0.5 if busy else 0)
                running = procs_running()
                d = bt.interleave({"ours": dnn["ours"], "tf": dnn["tf"]}, args.repeats)
                c = bt.interleave(census, args.repeats)
            finally:
                for proc in busy:
                    proc.kill()
                    proc.wait()
            results.append((level, running, d, c))
    print(f"{bt.machine()}; default threads on both sides; medians of {args.repeats} interleaved repeats")
    for level, running, d, c in results:
        print(f"== {level} busy process(es) (procs_running at start: {running})")
        bt.print_rates("DNN [256,128,64] batch 512, examples/s", d, "ours", "tf")
        bench_census.report(c)
    print("  target (issue 18): >= 1x TF on both (census: end to end) with 2 busy processes")


if __name__ == "__main__":
    main()
