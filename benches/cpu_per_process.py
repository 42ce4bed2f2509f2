#!/usr/bin/env python3
"""CPU seconds per process name over one run of a command (benches/README.md, "where the time goes").

    benches/cpu_per_process.py tansu,order-service,inventory-service,notification-service,shop-demo \
        target/release/shop-demo --orders 2000 --concurrency 128 --quiet ...

Runs the command and, every 0.2 s, reads user + system CPU time (/proc/PID/stat) of each process
in its process tree whose name starts with one of the names; the last reading of each process
counts, so processes that end before the command does are counted too. CPU time, unlike
throughput, barely depends on what else the machine is doing. EXTRA_ROOTS=PID[,PID] adds other
process trees, such as a PostgreSQL server the command uses. Prints to stderr when the command
ends, and exits with its status.
"""
import collections
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    """(name, parent pid, CPU seconds) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def in_trees(pid, roots, parents):
    seen = 0
    while pid > 1 and seen < 64:
        if pid in roots:
            return True
        pid = parents.get(pid, 0)
        seen += 1
    return False


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    names = sys.argv[1].split(",")
    child = subprocess.Popen(sys.argv[2:])
    roots = {child.pid} | {int(r) for r in os.environ.get("EXTRA_ROOTS", "").split(",") if r}
    last = {}
    started = time.monotonic()
    while child.poll() is None:
        readings = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (s := stat(int(entry))):
                readings[int(entry)] = s
        parents = {pid: s[1] for pid, s in readings.items()}
        for pid, (name, _, cpu) in readings.items():
            match = next((n for n in names if name.startswith(n[:15])), None)
            if match and in_trees(pid, roots, parents):
                last[pid] = (match, cpu)
        time.sleep(0.2)
    wall = time.monotonic() - started
    total = collections.defaultdict(float)
    count = collections.Counter()
    for name, cpu in last.values():
        total[name] += cpu
        count[name] += 1
    print(f"== wall {wall:.1f} s, load average {os.getloadavg()}", file=sys.stderr)
    for name in names:
        print(f"== cpu {name}: {total[name]:.1f} s over {count[name]} process(es)", file=sys.stderr)
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
