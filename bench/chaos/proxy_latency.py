#!/usr/bin/env python3
"""Added median latency of proxies with no toxic, RUNS runs of added_latency.py per condition, and a verdict
that allows for the run-to-run spread: the per-run difference (a proxy's added median minus the reference
proxy's, both from the same run's interleaved turns), its median over the runs, its range, and how many runs
came out at or below the reference.

Conditions (the machine's noise is in the wake-ups, not in the proxies: a sequential request wakes three
idle processes, and a halted vCPU takes ~75 us to wake here instead of ~30):
  default    the machine as it is (guest_halt_poll_ns as found, no pinning)
  halt-poll  the guest's cpuidle halt polling on (/sys/module/haltpoll/parameters/guest_halt_poll_ns =
             HALT_POLL_NS, 200,000 by default; restored afterwards): an idle vCPU polls before it halts, so a
             wake-up within the window costs no VM exit
  one-cpu    every process (client, nginx, the proxies) on CPU 0: each hop is a context switch on one CPU,
             no cross-CPU wake-up at all; what remains is each proxy's own path (its syscalls and code)

usage: proxy_latency.py SAMPLES RUNS CONDITIONS DIRECT_PORT PIDS NAME=PORT [NAME=PORT ...]
  CONDITIONS: comma-separated, e.g. default,halt-poll,one-cpu; PIDS: comma-separated pids of the server
  processes (nginx's master and worker, each proxy) to pin for one-cpu. The first NAME is the one judged,
  the second the reference.
"""
import os
import statistics
import subprocess
import sys

HALT_POLL = "/sys/module/haltpoll/parameters/guest_halt_poll_ns"
HERE = os.path.dirname(os.path.abspath(__file__))


def set_affinity(pids, cpus):
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                os.sched_setaffinity(int(task), cpus)
            except OSError:
                pass  # a thread that just ended


def one_run(samples, direct_port, targets, cpus):
    command = [sys.executable, os.path.join(HERE, "added_latency.py"), str(samples), str(direct_port)] + targets
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None).stdout
    added = {}
    for line in out.splitlines():
        name, _, rest = line.partition(": added median ")
        if rest:
            added[name] = float(rest.split()[0])
    return added


def main():
    samples, runs = int(sys.argv[1]), int(sys.argv[2])
    conditions = sys.argv[3].split(",")
    direct_port = int(sys.argv[4])
    pids = [int(p) for p in sys.argv[5].split(",") if p]
    targets = sys.argv[6:]
    names = [t.split("=")[0] for t in targets]
    judged, reference = names[0], names[1]
    all_cpus = os.sched_getaffinity(0)
    halt_poll_before = open(HALT_POLL).read().strip() if os.path.exists(HALT_POLL) else None
    try:
        for condition in conditions:
            cpus = None
            if condition == "halt-poll":
                if halt_poll_before is None:
                    print("halt-poll: no cpuidle haltpoll on this machine, skipped")
                    continue
                if not os.access(HALT_POLL, os.W_OK):
                    print(f"halt-poll: {HALT_POLL} is not writable (run as root), skipped")
                    continue
                with open(HALT_POLL, "w") as f:
                    f.write(os.environ.get("HALT_POLL_NS", "200000"))
            elif condition == "one-cpu":
                cpus = {min(all_cpus)}
                set_affinity(pids, cpus)
            elif condition != "default":
                sys.exit(f"unknown condition {condition!r} (default, halt-poll, one-cpu)")
            per_run = [one_run(samples, direct_port, targets, cpus) for _ in range(runs)]
            if condition == "halt-poll":
                with open(HALT_POLL, "w") as f:
                    f.write(halt_poll_before)
            if condition == "one-cpu":
                set_affinity(pids, all_cpus)
            for name in names:
                values = [r[name] for r in per_run]
                print(f"{condition}: {name} added median per run (us): "
                      + " ".join(f"{v:+.1f}" for v in values))
            diffs = [r[judged] - r[reference] for r in per_run]
            at_or_below = sum(1 for d in diffs if d <= 0)
            print(f"{condition}: {judged} - {reference} per run: median {statistics.median(diffs):+.1f} us, "
                  f"range {min(diffs):+.1f} to {max(diffs):+.1f} us, {judged} at or below in {at_or_below} "
                  f"of {runs} runs")
            for other in names[2:]:
                d = [r[judged] - r[other] for r in per_run]
                print(f"{condition}: {judged} - {other} per run: median {statistics.median(d):+.1f} us, "
                      f"range {min(d):+.1f} to {max(d):+.1f} us")
    finally:
        if halt_poll_before is not None and os.access(HALT_POLL, os.W_OK):
            with open(HALT_POLL, "w") as f:
                f.write(halt_poll_before)
        set_affinity(pids, all_cpus)


if __name__ == "__main__":
    main()
