#!/usr/bin/env python3
"""Runs long build steps (the broker's install, the workspace build) at the same time and
shows how far they are, in plain lines that read the same in a terminal and in a log:

    [up] 4 min 30 s: tansu 173/402 crates, workspace 288/431 crates; about 13 min left

Each task is a command whose cargo output goes to a log file; the count is cargo's own
("Building [==>  ] 288/431", forced on with CARGO_TERM_PROGRESS_WHEN=always, so it counts
what is already built too). The time left comes from measured runs: how long the task
took and how its count grew over time (MEASURED below, from a first run on a 2-core
machine, or this machine's own last full run, kept in $COOLRIEL_CACHE/progress/), scaled
by this run's pace once it has one.

    scripts/progress.py --prefix up \\
        --task tansu-0.6.0 tansu ~/.cache/coolriel/tansu-install.log scripts/broker.sh install \\
        --task build-debug workspace logs/build.log --capture cargo build --bin coolriel

A task: --task KEY NAME LOG [--capture] COMMAND...; KEY names its measured times, NAME is
what the lines call it, LOG is where its cargo output is (written by the command, or by
this script with --capture, which sends the command's stdout and stderr there). Without
--capture the command's own output goes to this script's standard error.

Exit status: 0 when every task succeeded; otherwise 1, after the other tasks were stopped
and the failed one's last log lines printed. SIGTERM or SIGINT stops the tasks (cargo
resumes where it stopped on the next run) and exits 130.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

# Seconds between two progress lines.
INTERVAL = float(os.environ.get("PROGRESS_INTERVAL", "30"))

# Measured on this project's 2-core development machine on 2026-12-04: scripts/up.sh's
# first run from a clean clone with empty caches (cargo registry, target directory,
# broker), both tasks at once, while other builds shared the machine (load average 6-7).
# "seconds": from cargo's first count to the end; "curve": the fraction of that time at
# which each twentieth of the crates was built (5 %, 10 %, ... 100 %). A full run on this
# machine replaces them (the cache above).
MEASURED = {
    "tansu-0.6.0": {
        "seconds": 1835,
        "curve": [0.015, 0.034, 0.053, 0.063, 0.082, 0.108, 0.153, 0.217, 0.266, 0.296, 0.333, 0.39, 0.448, 0.487, 0.542, 0.674, 0.738, 0.775, 0.876, 1.0],
    },
    "build-debug": {
        "seconds": 1334,
        "curve": [0.062, 0.105, 0.14, 0.157, 0.186, 0.205, 0.23, 0.255, 0.279, 0.288, 0.344, 0.39, 0.478, 0.505, 0.523, 0.582, 0.642, 0.861, 0.932, 1.0],
    },
}

# The colon after the count: a bar read while cargo was still writing it is not taken.
BAR = re.compile(rb"Building \[[^\]]*\] (\d+)/(\d+):")
# What cargo does before its count shows: the line says it instead of "starting".
# Another cargo may hold the target directory or the package cache: nothing moves until
# it is done.
BEFORE_COUNT = [
    (re.compile(rb"Blocking waiting for file lock on ([a-z ]+)"), "waiting for another cargo to release the {}"),
    (re.compile(rb"Updating ([a-z.-]+) index"), "updating the {} index"),
    (re.compile(rb"Download(?:ing|ed) "), "downloading crates"),
]


def duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"


def cache_dir():
    root = os.environ.get("COOLRIEL_CACHE") or os.path.expanduser("~/.cache/coolriel")
    return Path(root) / "progress"


def measured(key):
    """This machine's last full run of `key`, else the committed measurement, else None."""
    try:
        with open(cache_dir() / f"{key}.json", encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError):
        return MEASURED.get(key)


def time_fraction(curve, fraction):
    """Fraction of the time elapsed when `fraction` of the units were done (linear between
    the measured points; a straight line when there is no curve)."""
    if not curve:
        return fraction
    points = [(0.0, 0.0)] + [((i + 1) / len(curve), t) for i, t in enumerate(curve)]
    for (f0, t0), (f1, t1) in zip(points, points[1:]):
        if fraction <= f1:
            return t0 + (t1 - t0) * (fraction - f0) / (f1 - f0) if f1 > f0 else t1
    return 1.0


class Task:
    def __init__(self, key, name, log, command, capture):
        self.key, self.name, self.log, self.command = key, name, Path(log), command
        self.capture = capture
        self.reference = measured(key)
        self.process = None
        self.started = None
        self.ended = None
        self.status = None
        self.done = self.total = 0
        self.first_fraction = None
        self.counting_since = None
        self.samples = []  # (seconds since the count first showed, fraction done)
        self.offset = 0
        self.before_count = None

    def start(self, env):
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # With --capture the log is ours; otherwise the command truncates and writes it,
        # and read_progress() waits until it is newer than this start (else: last run's).
        output = open(self.log, "wb") if self.capture else None
        self.started = time.monotonic()
        self.wall_started = time.time()
        # A session of its own: the terminal's Ctrl-C goes to the script that runs us,
        # which tells us, and we stop the whole task (cargo and its rustc processes).
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=output or sys.stderr,
            stderr=subprocess.STDOUT if output else sys.stderr,
            env=env,
            start_new_session=True,
        )
        if output:
            output.close()

    def read_progress(self):
        try:
            stat = self.log.stat()
            if not self.capture and stat.st_mtime < self.wall_started - 1:
                return
            if stat.st_size < self.offset:
                self.offset = 0
            with open(self.log, "rb") as file:
                file.seek(self.offset)
                chunk = file.read()
                self.offset = file.tell()
        except OSError:
            return
        latest = -1
        for pattern, text in BEFORE_COUNT:
            for match in pattern.finditer(chunk):
                if match.start() > latest:
                    latest = match.start()
                    self.before_count = text.format(*(group.decode() for group in match.groups()))
        matches = BAR.findall(chunk)
        if not matches:
            return
        done, total = (int(number) for number in matches[-1])
        if total <= 0:
            return
        self.done, self.total = done, total
        fraction = done / total
        if self.first_fraction is None:
            self.first_fraction = fraction
            # From the first count on: time spent waiting for a lock is no pace.
            self.counting_since = time.monotonic()
        self.samples.append((time.monotonic() - self.counting_since, fraction))

    def poll(self):
        if self.status is None and self.process.poll() is not None:
            self.status = self.process.returncode
            self.ended = time.monotonic()
            self.read_progress()
        return self.status

    def elapsed(self):
        return (self.ended or time.monotonic()) - self.started

    def counting(self):
        """Seconds since cargo's count first showed."""
        return (self.ended or time.monotonic()) - self.counting_since

    def remaining(self):
        """Seconds left, estimated; None when nothing is known yet."""
        if self.total == 0:
            return None
        fraction = self.done / self.total
        start = self.first_fraction or 0.0
        counted = self.counting()
        if self.reference:
            curve = self.reference.get("curve")
            t0 = time_fraction(curve, start)
            now = time_fraction(curve, fraction)
            # The part of the measured run this run still has to do.
            left_share = max(1.0 - t0, 1e-6)
            done_share = (now - t0) / left_share
            if done_share < 0.05:
                expected = self.reference["seconds"] * left_share
                return max(expected - counted, 0.0)
            return counted / done_share - counted
        # No measurement: this run's own pace, once it has one.
        if fraction - start < 0.2:
            return None
        return counted * (1.0 - fraction) / (fraction - start)

    def describe(self):
        if self.total:
            return f"{self.name} {self.done}/{self.total} crates"
        return f"{self.name} {self.before_count or 'starting'}"

    def record(self):
        """Keep this run's times when it built (nearly) everything: the next estimate of
        the same task on this machine starts from them."""
        if self.status != 0 or self.first_fraction is None or self.first_fraction > 0.05:
            return
        seconds = self.counting()
        if seconds < 60:
            return
        curve = []
        for twentieth in range(1, 21):
            target = twentieth / 20
            at = next((t for t, f in self.samples if f >= target), seconds)
            curve.append(round(min(at / seconds, 1.0), 3))
        try:
            cache_dir().mkdir(parents=True, exist_ok=True)
            with open(cache_dir() / f"{self.key}.json", "w", encoding="utf-8") as file:
                json.dump({"seconds": round(seconds), "curve": curve}, file)
        except OSError:
            pass

    def stop(self):
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def tail(self, lines=30):
        try:
            text = self.log.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""
        # The progress bar's carriage returns: keep what a terminal would have left.
        kept = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
        kept = [line for line in kept if not BAR.search(line.encode())]
        return "\n".join(kept[-lines:])


def parse(argv):
    prefix = "progress"
    tasks = []
    i = 0
    while i < len(argv):
        if argv[i] == "--prefix":
            prefix = argv[i + 1]
            i += 2
        elif argv[i] == "--task":
            key, name, log = argv[i + 1 : i + 4]
            i += 4
            capture = i < len(argv) and argv[i] == "--capture"
            if capture:
                i += 1
            end = i
            while end < len(argv) and argv[end] != "--task":
                end += 1
            if end == i:
                raise SystemExit(f"progress.py: task {key} has no command")
            tasks.append(Task(key, name, log, argv[i:end], capture))
            i = end
        else:
            raise SystemExit(f"progress.py: unexpected {argv[i]!r} (see the header of this file)")
    if not tasks:
        raise SystemExit("progress.py: no --task given")
    return prefix, tasks


def main(argv):
    prefix, tasks = parse(argv)

    def say(text):
        print(f"[{prefix}] {text}", file=sys.stderr, flush=True)

    stop_requested = []

    def on_signal(number, _frame):
        stop_requested.append(number)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    env = dict(os.environ)
    env["CARGO_TERM_PROGRESS_WHEN"] = "always"
    env["CARGO_TERM_PROGRESS_WIDTH"] = "100"
    # A task that shows its own progress (broker.sh install) leaves it to us.
    env["COOLRIEL_PROGRESS_SHOWN"] = "1"
    started = time.monotonic()
    for task in tasks:
        if task.reference:
            took = f"from nothing built: {duration(task.reference['seconds'])} measured"
        else:
            took = "no measured time yet"
        say(f"{task.name}: started (log: {task.log}; {took})")
        task.start(env)
    last_line = time.monotonic()
    failed = None
    while True:
        time.sleep(0.5)
        for task in tasks:
            if task.status is None:
                task.read_progress()
            if task.status is None and task.poll() is not None:
                if task.status == 0:
                    say(f"{task.name}: done in {duration(task.elapsed())}")
                    task.record()
                elif failed is None and not stop_requested:
                    failed = task
        running = [task for task in tasks if task.status is None]
        if stop_requested or failed:
            for task in running:
                task.stop()
            for task in running:
                task.process.wait()
            break
        if not running:
            break
        if time.monotonic() - last_line >= INTERVAL:
            last_line = time.monotonic()
            estimates = [task.remaining() for task in running]
            left = ""
            if all(estimate is not None for estimate in estimates):
                worst = max(estimates)
                if worst >= 90:
                    left = f"; about {round(worst / 60)} min left"
                elif worst >= 45:
                    left = "; about a minute left"
                else:
                    left = "; less than a minute left"
            status = ", ".join(task.describe() for task in running)
            say(f"{duration(time.monotonic() - started)}: {status}{left}")
    if stop_requested:
        say(f"stopped after {duration(time.monotonic() - started)}; the next run resumes where this one stopped")
        return 130
    if failed:
        say(f"{failed.name} failed (exit status {failed.status}) after {duration(failed.elapsed())}; "
            f"last lines of {failed.log}:")
        print(failed.tail(), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
