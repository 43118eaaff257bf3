#!/usr/bin/env python3
"""Chaos runs against the real binaries, a private tansu broker and SQLite: kill things,
then count what survived. Driven by scripts/chaos.sh; Python's standard library only.

Cases (each prints sent, published, emailed, lost, duplicated):
  consumer-crash  users created while coolriel is SIGKILLed and restarted at random moments:
                  every user gets a whole welcome email; copies are only rewrites.
  producer-crash  users created while store-manager is SIGKILLed and restarted under load:
                  every 201 has its event; no event for a user that was never committed.
  broker-outage   the broker stopped while users are created at a steady rate: every
                  request answers 201, every event is published after the broker returns,
                  created before deleted for every user.
"""
import argparse, json, os, random, signal, socket, sqlite3, subprocess, sys, threading, time
import urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing answers on port {port}")


class System:
    """A private broker, store-manager on SQLite and coolriel, all in one work directory."""

    def __init__(self, work, bins, tansu):
        self.work, self.bins, self.tansu = work, bins, tansu
        self.broker_port, self.http_port = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.broker_port}"
        self.output = os.path.join(work, "output")
        self.db_path = os.path.join(work, "store.db")
        self.procs = {}
        os.makedirs(os.path.join(work, "logs"), exist_ok=True)

    def _spawn(self, name, argv, env=None, cwd=None):
        log = open(os.path.join(self.work, "logs", f"{name}.log"), "ab")
        # Info level: the actor lifecycle lines (assignments, revokes, starts, stops) are
        # what explains a failed case afterwards.
        level = "warn" if name == "broker" else os.environ.get("CHAOS_RUST_LOG", "info")
        full_env = dict(os.environ, RUST_LOG=level, NO_COLOR="1", **(env or {}))
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log, env=full_env, cwd=cwd)

    def start_broker(self):
        url = f"tcp://127.0.0.1:{self.broker_port}"
        self._spawn("broker", [self.tansu, "broker", "--storage-engine", "sqlite://tansu.db",
                               "--kafka-listener-url", url, "--kafka-advertised-listener-url", url],
                    cwd=self.work)
        wait_port(self.broker_port)

    def create_topics(self):
        for topic in ["user-events", "user-events.dlq", "order-events", "order-events.dlq"]:
            subprocess.run([self.tansu, "topic", "create", topic, "--partitions", "3",
                            "--broker", f"tcp://127.0.0.1:{self.broker_port}"],
                           check=True, capture_output=True, timeout=30)

    def start_store(self):
        self._spawn("store-manager", [os.path.join(self.bins, "store-manager")], env={
            "DATABASE_URL": f"sqlite://{self.db_path}?mode=rwc",
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "STORE_MANAGER_ADDR": f"127.0.0.1:{self.http_port}",
            "OUTBOX_POLL_INTERVAL_MS": "200",
        }, cwd=self.work)
        wait_port(self.http_port)

    def start_coolriel(self):
        self._spawn("coolriel", [os.path.join(self.bins, "coolriel"), "run"], env={
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "OUTPUT_DIR": self.output,
            "TEMPLATES_DIR": os.path.join(ROOT, "templates"),
            "COOLRIEL_ADMIN_ADDR": f"127.0.0.1:{free_port()}",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
        }, cwd=self.work)

    def kill(self, name):
        proc = self.procs.pop(name, None)
        if proc:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def stop_all(self):
        for name in list(self.procs):
            self.kill(name)

    def post_user(self, n):
        body = json.dumps({"name": f"Chaos {n}", "email": f"chaos{n}@example.com",
                           "user_type_id": 1 + n % 3}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/users", data=body,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.load(response).get("user_id")
        except urllib.error.HTTPError as error:
            return error.code, None
        except OSError:
            return None, None

    def delete_user(self, user_id):
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/users/{user_id}",
                                         method="DELETE")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def replay(self):
        """Every message of user-events, read back with `coolriel replay`."""
        out = os.path.join(self.work, "replay")
        subprocess.run([os.path.join(self.bins, "coolriel"), "replay", "--topic", "user-events",
                        "--output-dir", out],
                       env=dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, RUST_LOG="warn"),
                       check=True, capture_output=True, timeout=300)
        with open(os.path.join(out, "history.json")) as f:
            return json.load(f)["events"]

    def committed_user_ids(self):
        with sqlite3.connect(self.db_path) as db:
            return {row[0] for row in db.execute("SELECT id FROM users WHERE id > 5")}


def count_events(records, event_type):
    ids = [r["event"]["event_id"] for r in records if r["event_type"] == event_type]
    return len(ids), len(set(ids)), {r["event"]["id"] for r in records if r["event_type"] == event_type}


def whole_welcome_emails(output):
    names = [n for n in os.listdir(output) if n.startswith("welcome_") and n.endswith(".html")] \
        if os.path.isdir(output) else []
    partial = [n for n in names if not open(os.path.join(output, n), encoding="utf-8").read().rstrip().endswith("</html>")]
    return {int(n[len("welcome_"):-len(".html")]) for n in names}, partial


def report(case, **counts):
    line = f"{case:15} " + "  ".join(f"{k}={v}" for k, v in counts.items())
    print(line, flush=True)
    return counts


def consumer_crash(system, users, kills):
    system.start_coolriel()
    ok_ids, stop = [], threading.Event()

    def killer():
        for _ in range(kills):
            time.sleep(random.uniform(0.5, 2.0))
            system.kill("coolriel")
            time.sleep(random.uniform(0.1, 0.5))
            system.start_coolriel()
    chaos = threading.Thread(target=killer)
    chaos.start()
    with ThreadPoolExecutor(8) as pool:
        for status, user_id in pool.map(system.post_user, range(users)):
            if status == 201:
                ok_ids.append(user_id)
    chaos.join()
    deadline = time.time() + 120 + users / 100
    while time.time() < deadline:
        emailed, partial = whole_welcome_emails(system.output)
        if set(ok_ids) <= emailed:
            break
        time.sleep(0.5)
    records = system.replay()
    published, distinct, _ = count_events(records, "UserCreated")
    emailed, partial = whole_welcome_emails(system.output)
    lost = len(set(ok_ids) - emailed)
    counts = report("consumer-crash", sent=users, accepted=len(ok_ids), published=published,
                    emailed=len(emailed), lost=lost, duplicated=published - distinct,
                    partial_files=len(partial), kills=kills)
    return lost == 0 and not partial and len(ok_ids) == users


def producer_crash(system, users, kills):
    ok_ids = []
    lock = threading.Lock()
    before = system.committed_user_ids()
    killing = threading.Event()
    killing.set()
    def killer():
        for _ in range(kills):
            time.sleep(random.uniform(0.3, 1.5))
            system.kill("store-manager")
            time.sleep(0.2)
            system.start_store()
        killing.clear()
    chaos = threading.Thread(target=killer)
    chaos.start()
    sent = []
    def client(worker):
        # Keep the load on until every kill happened, and at least `users` requests.
        n = worker
        while killing.is_set() or n < users:
            status, user_id = system.post_user(100_000 + n)
            with lock:
                sent.append(status)
                if status == 201:
                    ok_ids.append(user_id)
            n += 8
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, range(8)))
    chaos.join()
    committed = system.committed_user_ids() - before
    deadline = time.time() + 60
    while True:
        records = [r for r in system.replay()
                   if r["event_type"] == "UserCreated" and r["event"]["id"] not in before]
        published_ids = {r["event"]["id"] for r in records}
        if committed <= published_ids or time.time() > deadline:
            break
        time.sleep(1)
    distinct = len({r["event"]["event_id"] for r in records})
    lost = len(committed - published_ids)
    phantom = len(published_ids - committed)
    report("producer-crash", sent=len(sent), accepted=len(ok_ids), committed=len(committed),
           published=len(records), lost=lost, duplicated=len(records) - distinct,
           published_without_commit=phantom, kills=kills)
    return lost == 0 and phantom == 0 and set(ok_ids) <= committed


def broker_outage(system, seconds, rate):
    statuses, created = [], []
    def load(duration):
        end = time.time() + duration
        n = len(statuses)
        while time.time() < end:
            status, user_id = system.post_user(200_000 + n)
            statuses.append(status)
            if status == 201:
                created.append(user_id)
                if n % 4 == 0:
                    statuses.append(system.delete_user(user_id))
            n += 1
            time.sleep(1 / rate)
    load(2)
    system.kill("broker")
    load(seconds)
    system.start_broker()
    load(2)
    deadline = time.time() + 90
    while True:
        records = system.replay()
        _, _, created_ids = count_events(records, "UserCreated")
        if set(created) <= created_ids or time.time() > deadline:
            break
        time.sleep(1)
    order_ok = True
    first_seen = {}
    for r in records:
        key = (r["event"]["id"], r["event_type"])
        first_seen.setdefault(key, (r["partition"], r["offset"]))
    for user_id in created:
        c, d = first_seen.get((user_id, "UserCreated")), first_seen.get((user_id, "UserDeleted"))
        if d and (not c or c[0] != d[0] or c[1] > d[1]):
            order_ok = False
    failures = [s for s in statuses if s not in (200, 201)]
    ours = [r for r in records if r["event"]["id"] in set(created)]
    published = len(ours)
    distinct = len({r["event"]["event_id"] for r in ours})
    lost = len(set(created) - created_ids)
    report("broker-outage", requests=len(statuses), non_2xx=len(failures), published=published,
           lost=lost, duplicated=published - distinct, created_before_deleted=order_ok,
           outage_seconds=seconds)
    return not failures and lost == 0 and order_ok


CASES = ["consumer-crash", "producer-crash", "broker-outage"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--bins", required=True)
    parser.add_argument("--tansu", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case", action="append", choices=CASES,
                        help="run only this case (repeatable); default: every case")
    args = parser.parse_args()
    cases = args.case or CASES
    users = 400 if args.quick else 50_000
    outage = 5 if args.quick else 20
    results = {}
    system = System(args.work, args.bins, args.tansu)
    try:
        system.start_broker()
        system.create_topics()
        system.start_store()
        if "consumer-crash" in cases:
            results["consumer-crash"] = consumer_crash(system, users, 5)
        if "producer-crash" in cases:
            results["producer-crash"] = producer_crash(system, users // 2, 5 if not args.quick else 3)
        if "broker-outage" in cases:
            results["broker-outage"] = broker_outage(system, outage, 20)
    finally:
        system.stop_all()
    failed = [case for case, ok in results.items() if not ok]
    print("chaos: " + ("all cases passed" if not failed else "FAILED: " + ", ".join(failed)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
