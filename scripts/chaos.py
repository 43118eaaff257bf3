#!/usr/bin/env python3
"""Chaos runs against the real binaries, a private tansu broker and SQLite: kill things,
then count what survived. Driven by scripts/chaos.sh; Python's standard library only.

Cases (each prints its counts: sent, published, emailed, lost, duplicated, ...):
  consumer-crash  users created while coolriel is SIGKILLed and restarted at random moments:
                  every user gets a whole welcome email; copies are only rewrites.
                  quick: 400 users, 5 kills; full: 50 000 users, 5 kills.
  producer-crash  users created while store-manager is SIGKILLed and restarted under load:
                  every 201 has its event; no event for a user that was never committed.
                  quick: 200+ users, 3 kills; full: 25 000+ users, 5 kills.
  broker-outage   the broker stopped while users are created at a steady rate: every
                  request answers 201, every event is published after the broker returns,
                  created before deleted for every user. quick: 5 s; full: 20 s; 20 req/s.
  load            mixed traffic at a steady open-loop rate (--load-rate, default 100 req/s;
                  quick: 40 s, full: 600 s, --load-seconds): in every 20 requests 7 create
                  users (all 3 types), 4 read one, 1 deletes one, 3 create orders, 1 pays
                  one, 2 read one, 1 reads a report, 1 reads a product or its stock. Every
                  request gets its 2xx; no request starts over 1 s late (the rate is held);
                  the RSS of store-manager and coolriel (sampled every 1 s quick, 5 s full)
                  does not grow: last quarter's average <= first quarter's x 1.5 + 16 MiB;
                  outbox pending rows (store-manager's /metrics) stay <= max(50, rate);
                  after the stop, coolriel's lag is 0 on every partition and every email
                  (welcome, goodbye, order, receipt) is written within 10 s.
  graceful-shutdown  users created at a steady rate (--shutdown-rate, default 50/s; half
                  on new connections, half on kept-alive ones). store-manager SIGTERMed
                  under the load: exit 0 within 8 s, every request it committed answered
                  201, no outbox row pending before it is restarted, every 201 on the topic.
                  Then coolriel SIGTERMed under the load, and again while it works through
                  the backlog of its downtime: exit 0 within 8 s each time, every user
                  emailed after the restarts; redeliveries (history.jsonl lines beyond the
                  copies on the topic) counted. quick: 1 cycle, 5 s of load before each
                  SIGTERM; full: 5 cycles, 20 s.
  disk-full       coolriel's OUTPUT_DIR on a small tmpfs (16 MiB quick; it mounts one: root, or sudo),
                  filled up with a file once a quarter of the users are emailed: its
                  readiness names the output directory, it retries with backoff (logged)
                  and dead-letters nothing, no offset is committed for an email not on disk
                  (the committed offsets checked against the topic), and once the file is
                  removed every email is written, whole, with no temporary file left.
                  quick: 200 users (at 20/s); full: 5 000 (at 500/s).
  db-connections  a second store-manager on a private mariadbd (a Unix socket in the work
                  directory, max_connections 40; never the shared server) whose every
                  connection another client takes, its own killed: every request answers
                  503 JSON (none 500, none slower than 10 s), publishes nothing; once the
                  other client lets go it recovers by itself, and the topic holds exactly
                  the users answered 201. quick: 30 requests; full: 300.
  panics          both services restarted with their test-only fault hooks (3 outbox round
                  panics, 3 partition actor panics) under users created at 50/s: every
                  request 201, every user published and emailed, exactly 3 restart lines of
                  each actor naming the cause, both ready afterwards. quick: 20 s; full: 5 min.
  broker-gone-at-shutdown  the broker killed, one more user committed (it cannot be
                  published), then SIGTERM to store-manager and coolriel: each exits within
                  the 15 s bound (store-manager non-zero: an event was left); after the
                  broker and both services restart, every user is published and emailed.

The services bind port 0 and the port is read from their logs; tansu, which must be told
its port, gets a candidate port that counts once /proc shows tansu itself listening there.
"""
import argparse, itertools, json, os, random, re, signal, socket, sqlite3, subprocess, sys, threading, time
import http.client, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# coolriel's lag gauges are read from the broker this often (COOLRIEL_LAG_REFRESH_MS).
LAG_REFRESH = 0.5
# After the load stops, coolriel must have handled and committed everything within this.
LAG_ZERO_BOUND = 10
# SIGTERM to exit, for either service (store-manager: in-flight requests, then the outbox
# drain, itself bounded by 5 s; coolriel: in-flight messages, the commit, leaving the group).
EXIT_BOUND = 8
# A memory leak shows as the last quarter's average RSS above the first quarter's by more
# than this factor plus this slack (see the load case in RELIABILITY.md for the reasoning).
MEMORY_GROWTH_FACTOR, MEMORY_GROWTH_SLACK_MIB = 1.5, 16


def candidate_port():
    """A port free right now: only for tansu, which cannot bind port 0 (it advertises the
    port it is given). Whoever starts it there checks that tansu is the one listening
    (listens_on) and tries another port otherwise."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listens_on(pid, port):
    """Whether process `pid` itself holds a socket listening on TCP `port` (/proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            pass
    return False


def bound_port(log_path, offset, message, proc, timeout=60):
    """The port in the first `message ... addr=IP:PORT` line the process logged after
    `offset`: the services bind port 0 and log what they got, so no port is handed from
    one process to another."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            for line in f:
                if message in line:
                    found = re.search(r"addr=\S+:(\d+)", line)
                    if found:
                        return int(found.group(1))
        if proc.poll() is not None:
            raise SystemExit(f"{log_path}: the process exited ({proc.returncode}) before logging {message!r}")
        time.sleep(0.05)
    raise SystemExit(f"{log_path}: no {message!r} line with addr= within {timeout} s")


class System:
    """A private broker, store-manager on SQLite and coolriel, all in one work directory."""

    def __init__(self, work, bins, tansu):
        self.work, self.bins, self.tansu = work, bins, tansu
        self.broker_port = None  # chosen by the first start_broker
        self.http_port = None  # bound by store-manager itself at each start
        self.output = os.path.join(work, "output")
        self.db_path = os.path.join(work, "store.db")
        self.procs = {}
        self.admin_port = None
        self.local = threading.local()  # post_user_keepalive's connections
        os.makedirs(os.path.join(work, "logs"), exist_ok=True)

    def log_path(self, name):
        return os.path.join(self.work, "logs", f"{name}.log")

    def _spawn(self, name, argv, env=None, cwd=None):
        """Start `name`; the size of its log before, where this start's lines begin."""
        path = self.log_path(name)
        offset = os.path.getsize(path) if os.path.exists(path) else 0
        log = open(path, "ab")
        # Info level: the actor lifecycle lines (assignments, revokes, starts, stops) are
        # what explains a failed case afterwards.
        level = "warn" if name == "broker" else os.environ.get("CHAOS_RUST_LOG", "info")
        full_env = dict(os.environ, RUST_LOG=level, NO_COLOR="1", **(env or {}))
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log, env=full_env, cwd=cwd)
        return offset

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.broker_port}"

    def start_broker(self):
        """tansu on a port of its own: the first start picks a candidate port and keeps it
        once tansu itself listens there (another process may have taken it: then another
        port); a restart reuses it, since the clients know it."""
        first = self.broker_port is None
        for _ in range(5 if first else 1):
            if first:
                self.broker_port = candidate_port()
            url = f"tcp://127.0.0.1:{self.broker_port}"
            self._spawn("broker", [self.tansu, "broker", "--storage-engine", "sqlite://tansu.db",
                                   "--kafka-listener-url", url, "--kafka-advertised-listener-url", url],
                        cwd=self.work)
            proc = self.procs["broker"]
            deadline = time.time() + 30
            while proc.poll() is None and not listens_on(proc.pid, self.broker_port) \
                    and time.time() < deadline:
                time.sleep(0.05)
            if listens_on(proc.pid, self.broker_port):
                break
            self.kill("broker")
        else:
            raise SystemExit(f"the broker could not listen on port {self.broker_port}")
        # The header index (scripts/broker.sh index_headers says why): without it, past
        # ~10 000 events per topic a replay from the start got no answer for 30 s (measured:
        # 29 000 user events, "no message for 30s"; 2.1 s with the index).
        subprocess.run([os.path.join(ROOT, "scripts", "broker.sh"), "index-headers",
                        os.path.join(self.work, "tansu.db")], check=True, timeout=60)

    def create_topics(self):
        for topic in ["user-events", "user-events.dlq", "order-events", "order-events.dlq",
                      "db-user-events", "db-order-events"]:
            subprocess.run([self.tansu, "topic", "create", topic, "--partitions", "3",
                            "--broker", f"tcp://127.0.0.1:{self.broker_port}"],
                           check=True, capture_output=True, timeout=30)

    def start_store(self, env=None, name="store-manager"):
        """store-manager on port 0; self.http_port is the port it bound (clients of an
        earlier run, still on the old port, see their connections refused)."""
        offset = self._spawn(name, [os.path.join(self.bins, "store-manager")], env=dict({
            "DATABASE_URL": f"sqlite://{self.db_path}?mode=rwc",
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "STORE_MANAGER_ADDR": "127.0.0.1:0",
            # Each restart takes the lease back at once (the default id has the port in
            # it, and the port changes at each start).
            "OUTBOX_REPLICA_ID": f"chaos-{name}",
            "OUTBOX_POLL_INTERVAL_MS": "200",
        }, **(env or {})), cwd=self.work)
        port = bound_port(self.log_path(name), offset, "store-manager listening", self.procs[name])
        if name == "store-manager":
            self.http_port = port
        return port

    def start_coolriel(self, env=None):
        # The admin port is read from the log: the load case scrapes coolriel's lag gauges
        # there, read from the broker every COOLRIEL_LAG_REFRESH_MS.
        offset = self._spawn("coolriel", [os.path.join(self.bins, "coolriel"), "run"], env=dict({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "OUTPUT_DIR": self.output,
            "TEMPLATES_DIR": os.path.join(ROOT, "templates"),
            "COOLRIEL_ADMIN_ADDR": "127.0.0.1:0",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "COOLRIEL_LAG_REFRESH_MS": str(int(LAG_REFRESH * 1000)),
        }, **(env or {})), cwd=self.work)
        self.admin_port = bound_port(self.log_path("coolriel"), offset, "admin server listening",
                                     self.procs["coolriel"])

    def kill(self, name):
        proc = self.procs.pop(name, None)
        if proc:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def terminate(self, name, timeout=30):
        """SIGTERM `name`; its exit code (None if it had to be SIGKILLed after `timeout`)
        and the seconds it took to exit."""
        proc = self.procs.pop(name)
        started = time.time()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        return code, time.time() - started

    def pid(self, name):
        proc = self.procs.get(name)
        return proc.pid if proc else None

    def log_text(self, name):
        with open(os.path.join(self.work, "logs", f"{name}.log"), encoding="utf-8",
                  errors="replace") as f:
            return f.read()

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

    def post_user_keepalive(self, n):
        """post_user on this thread's persistent connection (HTTP/1.1 keep-alive, as a
        client's connection pool does); a new one after an error."""
        body = json.dumps({"name": f"Chaos {n}", "email": f"chaos{n}@example.com",
                           "user_type_id": 1 + n % 3})
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=15)
        try:
            self.local.conn.request("POST", "/users", body, {"content-type": "application/json"})
            response = self.local.conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw).get("user_id") if response.status == 201 else None
        except (OSError, http.client.HTTPException):
            self.local.conn.close()
            self.local.conn = None
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

    def call(self, method, path, body=None, port=None):
        """One request to store-manager (or to `port`): (status, the JSON body decoded, or
        the text of any other body); (None, None) when nothing answered."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{port or self.http_port}{path}",
                                         data=data, method=method,
                                         headers={"content-type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                raw = response.read()
                if response.headers.get_content_type() == "application/json":
                    return response.status, json.loads(raw)
                return response.status, raw.decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            # The error's own body: JSON for every error both services answer.
            try:
                return error.code, json.loads(error.read())
            except ValueError:
                return error.code, None
        except OSError:
            return None, None

    def metrics(self, port):
        """A Prometheus text exposition as {(name, sorted labels): value}; {} when down."""
        status, text = self.call("GET", "/metrics", port=port)
        if status != 200 or not isinstance(text, str):
            return {}
        samples = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            name, _, labels = series.partition("{")
            pairs = tuple(sorted(tuple(part.split("=", 1)) for part in
                                 labels.rstrip("}").replace('"', "").split(",") if part))
            try:
                samples[(name, pairs)] = float(value)
            except ValueError:
                pass
        return samples

    def replay(self, topic="user-events"):
        """Every message of `topic`, read back with `coolriel replay`."""
        out = os.path.join(self.work, "replay")
        subprocess.run([os.path.join(self.bins, "coolriel"), "replay", "--topic", topic,
                        "--output-dir", out],
                       env=dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, RUST_LOG="warn"),
                       check=True, capture_output=True, timeout=300)
        with open(os.path.join(out, "history.json")) as f:
            return json.load(f)["events"]

    def committed_user_ids(self):
        with sqlite3.connect(self.db_path) as db:
            return {row[0] for row in db.execute("SELECT id FROM users WHERE id > 5")}

    def sql(self, query):
        db = sqlite3.connect(self.db_path)
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()


def count_events(records, event_type):
    ids = [r["event"]["event_id"] for r in records if r["event_type"] == event_type]
    return len(ids), len(set(ids)), {r["event"]["id"] for r in records if r["event_type"] == event_type}


def whole_welcome_emails(output):
    names = [n for n in os.listdir(output) if n.startswith("welcome_") and n.endswith(".html")] \
        if os.path.isdir(output) else []
    partial = [n for n in names if not open(os.path.join(output, n), encoding="utf-8").read().rstrip().endswith("</html>")]
    return {int(n[len("welcome_"):-len(".html")]) for n in names}, partial


def report(case, **counts):
    line = f"{case:17} " + "  ".join(f"{k}={v}" for k, v in counts.items())
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


def rss_mib(pid):
    """VmRSS of `pid` in MiB, None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        pass
    return None


class OpenLoop:
    """Calls `op(n)` at a steady `rate` per second, n = 0, 1, …, on a pool of threads: an
    open loop, the schedule never waits for an answer. `max_start_delay` is how late the
    latest call started (when the answers come slower than the rate, every thread is busy
    and calls start late: the rate is not held)."""

    def __init__(self, rate, op, workers=48):
        self.rate, self.op = rate, op
        self.pool = ThreadPoolExecutor(workers)
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.results, self.latencies = [], []
        self.max_start_delay = 0.0
        self.thread = threading.Thread(target=self._schedule)

    def start(self):
        self.started = time.time()
        self.thread.start()
        return self

    def _call(self, n, due):
        began = time.time()
        result = self.op(n)
        ended = time.time()
        with self.lock:
            self.max_start_delay = max(self.max_start_delay, began - due)
            self.latencies.append(ended - began)
            self.results.append(result)

    def _schedule(self):
        n = 0
        while not self.halt.is_set():
            due = self.started + n / self.rate
            wait = due - time.time()
            if wait > 0 and self.halt.wait(wait):
                break
            self.pool.submit(self._call, n, due)
            n += 1

    def stop(self):
        """Stop sending; returns once every request sent has been answered."""
        self.halt.set()
        self.thread.join()
        self.pool.shutdown(wait=True)
        self.stopped = time.time()
        return self

    def run_for(self, seconds):
        self.start()
        time.sleep(seconds)
        return self.stop()

    def summary(self):
        latencies = sorted(self.latencies) or [0]
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
        return {"rate": round(len(self.results) / (self.stopped - self.started), 1),
                "p50_ms": round(pick(0.5) * 1000), "p99_ms": round(pick(0.99) * 1000),
                "max_ms": round(latencies[-1] * 1000),
                "late_ms": round(self.max_start_delay * 1000)}


class Sampler:
    """Every `interval` seconds: VmRSS of store-manager and coolriel, and store-manager's
    `store_manager_outbox_pending_rows` gauge."""

    def __init__(self, system, interval):
        self.system, self.interval = system, interval
        self.samples = {"store-manager": [], "coolriel": [], "pending": []}
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        while True:
            for name in ("store-manager", "coolriel"):
                rss = rss_mib(self.system.pid(name))
                if rss is not None:
                    self.samples[name].append(rss)
            pending = self.system.metrics(self.system.http_port).get(
                ("store_manager_outbox_pending_rows", ()))
            if pending is not None:
                self.samples["pending"].append(pending)
            if self.halt.wait(self.interval):
                return

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.halt.set()
        self.thread.join()
        return self.samples


def memory_verdict(samples):
    """("first/max/last(q1=..,q4=..)", grew): RSS in MiB with the first and last quarters'
    averages, and whether the last quarter's average exceeds the first quarter's by more
    than MEMORY_GROWTH_FACTOR and MEMORY_GROWTH_SLACK_MIB."""
    if not samples:
        return "none", True
    quarter = max(1, len(samples) // 4)
    first, last = sum(samples[:quarter]) / quarter, sum(samples[-quarter:]) / quarter
    grew = last > first * MEMORY_GROWTH_FACTOR + MEMORY_GROWTH_SLACK_MIB
    return (f"{samples[0]:.0f}/{max(samples):.0f}/{samples[-1]:.0f}"
            f"(q1={first:.1f},q4={last:.1f})"), grew


def emails_present(output, prefix, ids):
    """The ids among `ids` that have their `prefix` email (coolriel's default: the HTML file
    only, no plain-text part)."""
    names = set(os.listdir(output)) if os.path.isdir(output) else set()
    return {i for i in ids if f"{prefix}_{i}.html" in names}


def lag_settled(system):
    """Whether coolriel owns every partition of both topics, each with lag 0, and its
    high watermarks cover every event store-manager has published on the topic (so the
    zero is not a reading from before the last events)."""
    samples = system.metrics(system.admin_port)
    published = dict(system.sql("SELECT topic, COUNT(*) FROM outbox WHERE published_at IS NOT NULL "
                                "GROUP BY topic"))
    for topic in ("user-events", "order-events"):
        lags = [v for (name, labels), v in samples.items()
                if name == "coolriel_partition_lag" and ("topic", topic) in labels]
        ends = [v for (name, labels), v in samples.items()
                if name == "coolriel_partition_high_watermark" and ("topic", topic) in labels]
        if len(lags) != 3 or any(lags) or sum(ends) < published.get(topic, 0):
            return False
    return True


def load(system, seconds, rate):
    """Mixed traffic at a steady open-loop rate; every request must get its 2xx."""
    if "coolriel" not in system.procs:
        system.start_coolriel()
    products = []
    for k in range(4):
        status, body = system.call("POST", "/products", {"name": f"Load product {k}",
                                                        "sku": f"LOAD-{k}", "price": "12.34"})
        assert status == 201, f"POST /products answered {status}"
        products.append(body["product_id"])
        status, _ = system.call("POST", "/stocks", {"product_id": body["product_id"],
                                                    "quantity": 1_000_000})
        assert status == 200, f"POST /stocks answered {status}"
    lock = threading.Lock()
    users, deletable, deleted, orders, unpaid, paid = [], [], [], [], [], []
    failures = {}
    reports = ["/orders/reports/highest-spenders", "/orders/reports/best-sellers",
               "/stocks/reports/overview-stocks", "/user-types"]

    creates = itertools.count()

    def create_user(n):
        k = next(creates)
        status, body = system.call("POST", "/users", {
            "name": f"Load {n}", "email": f"load{n}@example.com", "user_type_id": 1 + k % 3})
        if status == 201:
            with lock:
                # One user in four (of every type) is only ever deleted, the others only
                # read and ordered for: a user with orders cannot be deleted (409), and a
                # deleted one cannot be read (404).
                (deletable if k % 4 == 0 else users).append(body["user_id"])
        return "POST /users", status, 201

    def op(n):
        slot = n % 20
        with lock:
            user = random.choice(users) if users else None
            order = random.choice(orders) if orders else None
            victim = deletable.pop(0) if slot == 10 and deletable else None
            to_pay = unpaid.pop(0) if slot == 14 and unpaid else None
        if slot < 6 or slot == 19 or user is None:
            return create_user(n)
        if slot < 10:
            return "GET /users/{id}", system.call("GET", f"/users/{user}")[0], 200
        if slot == 10:
            if victim is None:
                return create_user(n)
            status = system.call("DELETE", f"/users/{victim}")[0]
            if status == 200:
                with lock:
                    deleted.append(victim)
            return "DELETE /users/{id}", status, 200
        if slot < 14 or (slot == 14 and to_pay is None) or (slot < 17 and order is None):
            items = [{"product_id": p, "quantity": random.randint(1, 3)}
                     for p in random.sample(products, random.randint(1, 3))]
            status, body = system.call("POST", "/orders", {"user_id": user, "items": items})
            if status == 201:
                with lock:
                    orders.append(body["order_id"])
                    unpaid.append(body["order_id"])
            return "POST /orders", status, 201
        if slot == 14:
            status = system.call("PUT", "/orders", {"order_id": to_pay, "is_paid": True})[0]
            if status == 200:
                with lock:
                    paid.append(to_pay)
            return "PUT /orders", status, 200
        if slot < 17:
            return "GET /orders/{id}", system.call("GET", f"/orders/{order}")[0], 200
        if slot == 17:
            path = reports[(n // 20) % len(reports)]
            return f"GET {path}", system.call("GET", path)[0], 200
        product = random.choice(products)
        path = f"/products/{product}" if n % 40 < 20 else f"/stocks/{product}"
        return f"GET {path.rsplit('/', 1)[0]}/{{id}}", system.call("GET", path)[0], 200

    sampler = Sampler(system, max(1.0, seconds / 120)).start()
    traffic = OpenLoop(rate, op).run_for(seconds)
    created = users + deletable + deleted

    def missing():
        return {prefix: len(set(ids) - emails_present(system.output, prefix, ids))
                for prefix, ids in [("welcome", created), ("goodbye", deleted),
                                    ("order", orders), ("receipt", paid)]}
    # Stopped: how long until coolriel has handled every event (each email is there) and
    # committed it (lag 0 everywhere)?
    lag_zero = None
    while time.time() < traffic.stopped + 60:
        if lag_settled(system) and not any(missing().values()):
            lag_zero = time.time() - traffic.stopped
            break
        time.sleep(0.25)
    samples = sampler.stop()
    # Kept with the logs (the work directory stays when a case fails).
    with open(os.path.join(system.work, "load-samples.json"), "w") as f:
        json.dump(dict(samples, interval_seconds=sampler.interval), f)
    for route, status, expected in traffic.results:
        if status != expected:
            failures[(route, status)] = failures.get((route, status), 0) + 1
    missing = missing()
    store_rss, store_grew = memory_verdict(samples["store-manager"])
    coolriel_rss, coolriel_grew = memory_verdict(samples["coolriel"])
    pending_max = int(max(samples["pending"], default=-1))
    pending_bound = max(50, rate)
    summary = traffic.summary()
    report("load", requests=len(traffic.results), errors=sum(failures.values()),
           seconds=seconds, rate=summary["rate"], users=len(created), deleted=len(deleted),
           orders=len(orders), paid=len(paid),
           latency_ms=f"{summary['p50_ms']}/{summary['p99_ms']}/{summary['max_ms']}",
           late_ms=summary["late_ms"],
           store_rss_mib=store_rss, coolriel_rss_mib=coolriel_rss,
           outbox_pending_max=pending_max,
           lag_zero_s="never" if lag_zero is None else round(lag_zero, 1),
           emails_missing=sum(missing.values()))
    problems = []
    if failures:
        problems.append(f"unexpected answers (route, status): count: {failures}")
    if summary["late_ms"] > 1000:
        problems.append(f"the rate was not held: a request started {summary['late_ms']} ms late")
    if store_grew or coolriel_grew:
        problems.append(f"memory grew: store-manager {store_grew}, coolriel {coolriel_grew}: "
                        f"{samples['store-manager']} {samples['coolriel']}")
    if min(samples["pending"], default=-1) < 0:
        problems.append(f"store-manager's /metrics did not read the outbox: {samples['pending']}")
    if pending_max > pending_bound:
        problems.append(f"outbox pending rows reached {pending_max} (bound {pending_bound}): {samples['pending']}")
    if lag_zero is None or lag_zero > LAG_ZERO_BOUND:
        problems.append(f"coolriel's lag was not 0 within {LAG_ZERO_BOUND} s of the stop")
    if any(missing.values()):
        problems.append(f"emails missing: {missing}")
    for problem in problems:
        print(f"  load: {problem}", flush=True)
    return not problems


def graceful_shutdown(system, cycles, warm, rate):
    """SIGTERM store-manager, then coolriel, while users are created at a steady rate."""
    if "coolriel" not in system.procs:
        system.start_coolriel()
    lock = threading.Lock()
    answers = []  # (began, ended, status, user_id) of every request
    base = [300_000]

    def create(n):
        began = time.time()
        # Half the requests on a new connection each, half on kept-alive ones.
        post = system.post_user_keepalive if n % 2 else system.post_user
        status, user_id = post(base[0] + n)
        with lock:
            answers.append((began, time.time(), status, user_id))

    def accepted():
        with lock:
            return {a[3] for a in answers if a[2] == 201}

    def in_flight(at):
        with lock:
            return sum(1 for began, ended, status, _ in answers
                       if began < at < ended and status == 201)

    problems = []
    exits = {"store-manager": [], "coolriel": []}
    before = system.committed_user_ids()
    inflight_store = inflight_coolriel = 0
    for cycle in range(cycles):
        # store-manager: SIGTERM under load. Every request it took must be answered (no
        # commit without its 201), and every event published before it exits.
        traffic = OpenLoop(rate, create).start()
        time.sleep(warm)
        signalled = time.time()
        code, took = system.terminate("store-manager")
        exits["store-manager"].append((code, round(took, 1)))
        time.sleep(1)  # the clients keep sending to the closed port
        traffic.stop()
        base[0] += 100_000
        inflight_store += in_flight(signalled)
        pending = system.sql("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")[0][0]
        committed = system.committed_user_ids() - before
        ok = accepted()
        if code != 0 or took > EXIT_BOUND:
            problems.append(f"store-manager exit {code} after {took:.1f} s (bound {EXIT_BOUND} s)")
        if pending:
            problems.append(f"{pending} outbox rows pending after store-manager's exit")
        if committed != ok:
            problems.append(f"committed without 201: {sorted(committed - ok)[:10]}, "
                            f"201 not committed: {sorted(ok - committed)[:10]}")
        system.start_store()
    log = system.log_text("store-manager")
    drains = [int(m) for m in re.findall(r"outbox drained before shutdown published=(\d+)", log)]
    if len(drains) < cycles:
        problems.append(f"store-manager logged 'outbox drained before shutdown' {len(drains)} "
                        f"times for {cycles} SIGTERMs")

    # Every 201 so far is on the topic, published before the exits (the rows were checked
    # above; here the topic itself, read again while tansu's watermarks catch up).
    store_phase = accepted()
    deadline = time.time() + 30
    while True:
        on_topic = {r["event"]["id"] for r in system.replay() if r["event_type"] == "UserCreated"}
        if store_phase <= on_topic or time.time() > deadline:
            break
        time.sleep(1)
    lost_at_exit = len(store_phase - on_topic)

    log_before = len(system.log_text("coolriel"))
    def stop_coolriel():
        code, took = system.terminate("coolriel")
        exits["coolriel"].append((code, round(took, 1)))
        if code != 0 or took > EXIT_BOUND:
            problems.append(f"coolriel exit {code} after {took:.1f} s (bound {EXIT_BOUND} s)")

    def handled_any():
        return sum(v for (name, _), v in system.metrics(system.admin_port).items()
                   if name == "coolriel_events_handled_total") > 0

    for cycle in range(cycles):
        # coolriel: SIGTERM while it keeps up with the load, then again while it works
        # through the backlog that piled up while it was down (as soon as it has handled
        # its first event). Each time it must finish what it holds, commit and exit 0.
        traffic = OpenLoop(rate, create).start()
        time.sleep(warm)
        stop_coolriel()
        time.sleep(3)
        system.start_coolriel()
        deadline = time.time() + 30
        while not handled_any() and time.time() < deadline:
            time.sleep(0.05)
        stop_coolriel()
        system.start_coolriel()
        time.sleep(2)
        traffic.stop()
        base[0] += 100_000
    log = system.log_text("coolriel")[log_before:]
    inflight_coolriel = sum(int(m) for m in re.findall(r"draining partition .*in_flight=(\d+)", log))
    # Logged when the final commit had something new to commit (else a debug line: the
    # auto-commit of the second before had it all).
    commits = log.count("offsets committed")

    created = accepted()
    deadline = time.time() + 60
    while time.time() < deadline and emails_present(system.output, "welcome", created) != created:
        time.sleep(0.5)
    emailed = emails_present(system.output, "welcome", created)
    # Deliveries handled, from coolriel's history (one line per message handled), against
    # the copies on the topic (store-manager's at-least-once): the rest are redeliveries.
    records = [r for r in system.replay() if r["event_type"] == "UserCreated"
               and r["event"]["id"] in created]
    copies = {}
    for r in records:
        copies[r["event"]["event_id"]] = copies.get(r["event"]["event_id"], 0) + 1
    handled = {}
    with open(os.path.join(system.output, "history.jsonl"), encoding="utf-8") as f:
        for line in f:
            try:
                event_id = json.loads(line)["event"]["event_id"]
            except (ValueError, KeyError, TypeError):
                continue
            if event_id in copies:
                handled[event_id] = handled.get(event_id, 0) + 1
    redelivered = sum(max(0, handled.get(e, 0) - n) for e, n in copies.items())
    with lock:
        statuses = [a[2] for a in answers]
    refused = statuses.count(None)
    errors = len(statuses) - refused - statuses.count(201)
    lost = len(created - emailed)
    exit_text = lambda name: ",".join(f"{c}@{t}s" for c, t in exits[name])
    report("graceful-shutdown", requests=len(statuses), accepted=len(created), refused=refused,
           errors=errors, lost_at_exit=lost_at_exit, published=len(records),
           duplicated=len(records) - len(copies), emailed=len(emailed), lost=lost,
           redelivered=redelivered, store_exits=exit_text("store-manager"),
           inflight_at_sigterm=inflight_store, drained_at_exit=sum(drains),
           coolriel_exits=exit_text("coolriel"), coolriel_inflight_at_sigterm=inflight_coolriel,
           final_commits=commits)
    if errors:
        problems.append(f"{errors} answers other than 201 or a refused connection")
    if lost_at_exit:
        problems.append(f"{lost_at_exit} users answered 201 before store-manager's exits are not "
                        "on the topic")
    if lost:
        problems.append(f"{lost} users answered 201 have no welcome email")
    for problem in problems:
        print(f"  graceful-shutdown: {problem}", flush=True)
    return not problems


def readiness(system, port):
    """(status, body) of GET /ready on `port`."""
    return system.call("GET", "/ready", port=port)


def restart_lines(text, actor):
    return [line for line in text.splitlines()
            if "actor restarted by its supervisor" in line and actor in line]


def committed_offsets(system, topic):
    """{partition: committed offset} from coolriel's gauges."""
    return {int(dict(labels)["partition"]): int(v)
            for (name, labels), v in system.metrics(system.admin_port).items()
            if name == "coolriel_partition_committed_offset" and ("topic", topic) in labels}


def disk_full(system, users):
    """coolriel's output directory on a small tmpfs that fills up mid-drain."""
    # Mounting takes root: this project's CI and machines run as root; elsewhere (GitHub's
    # runners) sudo without a password.
    as_root = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if as_root and subprocess.run(as_root + ["true"], capture_output=True).returncode != 0:
        print("  disk-full: mounting a tmpfs needs root or sudo without a password")
        return False
    if "coolriel" in system.procs:
        system.terminate("coolriel")
    mount = os.path.join(system.work, "tmpfs")
    os.makedirs(mount, exist_ok=True)
    # Room for every email (two files of a page or so each) and the history, so that the
    # disk is full only while the filler file is there.
    size_mib = max(16, users * 12 // 1024 + 8)
    subprocess.run(as_root + ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=1777", "tmpfs", mount],
                   check=True)
    output = os.path.join(mount, "output")
    filler = os.path.join(mount, "filler")
    problems = []
    try:
        saved, system.output = system.output, output
        system.start_coolriel()
        created = []
        lock = threading.Lock()

        def create(n):
            status, user_id = system.post_user(400_000 + n)
            if status == 201:
                with lock:
                    created.append(user_id)
        traffic = OpenLoop(max(20, users / 10), create).start()
        deadline = time.time() + 60
        while len(emails_present(output, "welcome", created)) < users // 4 and time.time() < deadline:
            time.sleep(0.05)
        # Fill the file system mid-drain: every write of coolriel's fails from now on.
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        full_at = len(emails_present(output, "welcome", created))
        # While full: not ready, naming the directory; the emails stop; what is committed
        # has its email (checked against the topic below, once traffic is over).
        not_ready, states = 0, []
        for _ in range(25):
            status, body = readiness(system, system.admin_port)
            states.append(status)
            if status == 503 and isinstance(body, dict) and \
                    str(body.get("output_dir", "")).startswith("not writable"):
                not_ready += 1
            time.sleep(0.2)
        traffic.stop()
        time.sleep(2)
        stalled = len(emails_present(output, "welcome", created))
        committed = committed_offsets(system, "user-events")
        on_disk = emails_present(output, "welcome", created)
        records = [r for r in system.replay() if r["event_type"] == "UserCreated"]
        committed_without_email = [r["event"]["id"] for r in records
                                   if r["event"]["id"] in set(created)
                                   and r["offset"] < committed.get(r["partition"], -1)
                                   and r["event"]["id"] not in on_disk]
        log = system.log_text("coolriel")
        retried = log.count("output storage refuses writes; retrying")
        dead = sum(v for (name, _), v in system.metrics(system.admin_port).items()
                   if name == "coolriel_dead_letters_total")
        # Space returns.
        os.remove(filler)
        deadline = time.time() + 120
        while emails_present(output, "welcome", created) != set(created) and time.time() < deadline:
            time.sleep(0.25)
        emailed = emails_present(output, "welcome", created)
        _, partial = whole_welcome_emails(output)
        leftovers = [n for n in os.listdir(output) if n.endswith(".tmp")]
        deadline = time.time() + 30
        while readiness(system, system.admin_port)[0] != 200 and time.time() < deadline:
            time.sleep(0.2)
        ready_again = readiness(system, system.admin_port)[0] == 200
        report("disk-full", sent=len(created), emailed_before_full=full_at, emailed_while_full=stalled,
               not_ready_while_full=f"{not_ready}/{len(states)}", retries_logged=retried,
               committed_without_email=len(committed_without_email), dead_letters=int(dead),
               emailed=len(emailed), lost=len(set(created) - emailed), partial_files=len(partial),
               temp_files=len(leftovers), ready_again=ready_again)
        if not_ready == 0:
            problems.append(f"readiness never named the full output directory: {states}")
        if committed_without_email:
            problems.append(f"offsets committed for emails not written: {committed_without_email[:10]}")
        if not retried:
            problems.append("no retry of the refused writes was logged")
        if dead:
            problems.append(f"{dead} messages dead-lettered while the disk was full")
        if set(created) - emailed or partial or leftovers:
            problems.append(f"after space returned: {len(set(created) - emailed)} missing, "
                            f"partial {partial[:5]}, temporary files {leftovers[:5]}")
        if not ready_again:
            problems.append("not ready again after space returned")
        system.terminate("coolriel")
    finally:
        system.output = saved
        if "coolriel" in system.procs:
            system.kill("coolriel")
        subprocess.run(as_root + ["umount", mount], check=False)
    for problem in problems:
        print(f"  disk-full: {problem}", flush=True)
    return not problems


class PrivateMariaDb:
    """A mariadbd of the case's own, on a Unix socket in the work directory and no TCP port
    (never the shared server: its max_connections is what the case uses up)."""

    def __init__(self, work, max_connections):
        self.dir = os.path.join(work, "mariadb")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        os.makedirs(self.dir, exist_ok=True)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.dir}/data",
                        "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)
        log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.dir}/data",
                                      f"--socket={self.socket}", "--skip-networking", "--user=root",
                                      "--skip-log-bin", "--innodb-buffer-pool-size=16M",
                                      f"--max-connections={max_connections}"],
                                     stdout=log, stderr=log)
        deadline = time.time() + 30
        while self.sql("SELECT 1", check=False).returncode != 0:
            if time.time() > deadline:
                raise SystemExit("the private MariaDB did not start")
            time.sleep(0.1)

    def sql(self, query, user="root", check=True):
        return subprocess.run(["mariadb", f"-u{user}", "-S", self.socket, "-N", "-e", query],
                              capture_output=True, text=True, check=check)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def db_connections(system, requests):
    """Another client uses up the database's max_connections under store-manager."""
    if not shutil_which("mariadbd"):
        print("  db-connections: mariadbd is not installed (scripts/test.sh installs MariaDB)")
        return False
    db = PrivateMariaDb(system.work, max_connections=40)
    hogs = []
    problems = []
    name = "store-manager-db"
    try:
        db.sql("CREATE DATABASE store CHARACTER SET utf8mb4; "
               "CREATE USER 'store'@'localhost'; GRANT ALL ON store.* TO 'store'@'localhost'; "
               "CREATE USER 'hog'@'localhost';")
        port = system.start_store(name=name, env={
            "DATABASE_URL": f"mysql://store@localhost/store?socket={db.socket}",
            "USER_EVENTS_TOPIC": "db-user-events", "ORDER_EVENTS_TOPIC": "db-order-events",
        })
        ok = []

        def post(n):
            status, body = system.call("POST", "/users", {"name": f"Db {n}", "email": f"db{n}@example.com"},
                                       port=port)
            if status == 201:
                ok.append(body["user_id"])
            return status, body
        for n in range(10):
            post(n)
        # The hog takes every connection the server allows, and store-manager's own go
        # (killed, as a server's wait_timeout or an operator would): it needs new ones,
        # and none are left. Its pool reconnects as soon as a slot is free, so the hog
        # takes the freed slots again until store-manager holds none.
        def fill():
            batch = [subprocess.Popen(["mariadb", "-uhog", "-S", db.socket, "-e", "SELECT SLEEP(600)"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                     for _ in range(50)]
            time.sleep(1.5)
            for hog in batch:
                if hog.poll() is None:
                    hogs.append(hog)
                elif b"Too many connections" not in hog.stderr.read():
                    problems.append("a hog client failed for another reason than 'Too many connections'")
        held_by_store = None
        for _ in range(10):
            fill()
            ids = db.sql("SELECT id FROM information_schema.processlist WHERE user='store'").stdout.split()
            held_by_store = len(ids)
            if not ids:
                break
            for connection in ids:
                db.sql(f"KILL {connection}", check=False)
        hogged = len(hogs)
        if held_by_store:
            problems.append(f"store-manager kept {held_by_store} connections: the case did not exhaust them")
        statuses, slow = {}, 0
        failed_before = len(ok)
        for n in range(requests):
            started = time.time()
            status, body = post(1000 + n)
            slow += time.time() - started > 10
            key = status if status != 503 or (isinstance(body, dict) and "error" in body) else "503 without JSON"
            statuses[key] = statuses.get(key, 0) + 1
            time.sleep(0.05)
        accepted_while_exhausted = len(ok) - failed_before
        for hog in hogs:
            hog.kill()
            hog.wait()
        hogs = []
        recovered_after = None
        started = time.time()
        while time.time() - started < 60:
            if post(5000 + int(time.time() * 1000) % 100000)[0] == 201:
                recovered_after = round(time.time() - started, 1)
                break
            time.sleep(0.2)
        for n in range(10):
            post(9000 + n)
        rows = int(db.sql("SELECT COUNT(*) FROM store.users WHERE id > 5").stdout.strip() or -1)
        deadline = time.time() + 60
        while True:
            published = [r["event"]["id"] for r in system.replay(topic="db-user-events")
                         if r["event_type"] == "UserCreated"]
            if set(ok) <= set(published) or time.time() > deadline:
                break
            time.sleep(1)
        report("db-connections", hogged=hogged, answers=statuses,
               accepted_while_exhausted=accepted_while_exhausted, slow_answers=slow,
               recovered_after_s=recovered_after, committed=rows, accepted=len(ok),
               published=len(published), lost=len(set(ok) - set(published)),
               published_without_201=len(set(published) - set(ok)))
        if any(k not in (201, 503) for k in statuses):
            problems.append(f"answers other than 503 JSON while exhausted: {statuses}")
        if statuses.get(503, 0) == 0:
            problems.append(f"no request was refused while the connections were used up: {statuses}")
        if slow:
            problems.append(f"{slow} answers took over 10 s")
        if recovered_after is None:
            problems.append("store-manager did not recover by itself")
        if set(ok) - set(published) or set(published) - set(ok) or rows != len(ok):
            problems.append(f"published {len(published)}, committed {rows}, answered 201 {len(ok)}")
        system.terminate(name)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        if name in system.procs:
            system.kill(name)
        db.stop()
    for problem in problems:
        print(f"  db-connections: {problem}", flush=True)
    return not problems


def shutil_which(name):
    return any(os.access(os.path.join(d, name), os.X_OK)
               for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin"])


def panics(system, seconds, rate):
    """The injected outbox and partition panics under a steady load."""
    for name in ("store-manager", "coolriel"):
        if name in system.procs:
            system.terminate(name)
    store_log, coolriel_log = len(system.log_text("store-manager")), \
        len(system.log_text("coolriel")) if os.path.exists(system.log_path("coolriel")) else 0
    every_round, every_message = max(5, int(rate * seconds / 8)), max(10, int(rate * seconds * 2 / 8))
    system.start_store(env={"STORE_MANAGER_FAULT_OUTBOX_PANIC": f"every={every_round},times=3"})
    system.start_coolriel(env={"COOLRIEL_FAULT_PARTITION_PANIC": f"every={every_message},times=3"})
    created, lock = [], threading.Lock()

    def create(n):
        status, user_id = system.post_user(600_000 + n)
        if status == 201:
            with lock:
                created.append(user_id)
        return status
    traffic = OpenLoop(rate, create).run_for(seconds)
    failures = sum(1 for status in traffic.results if status != 201)
    deadline = time.time() + 60
    while emails_present(system.output, "welcome", created) != set(created) and time.time() < deadline:
        time.sleep(0.25)
    emailed = emails_present(system.output, "welcome", created)
    deadline = time.time() + 30
    while True:
        published = {r["event"]["id"] for r in system.replay() if r["event_type"] == "UserCreated"}
        if set(created) <= published or time.time() > deadline:
            break
        time.sleep(1)
    outbox_restarts = restart_lines(system.log_text("store-manager")[store_log:], "OutboxActor")
    partition_restarts = restart_lines(system.log_text("coolriel")[coolriel_log:], "PartitionActor")
    ready = [readiness(system, system.http_port)[0], readiness(system, system.admin_port)[0]]
    report("panics", requests=len(traffic.results), non_201=failures, accepted=len(created),
           published=len(set(created) & published), emailed=len(emailed),
           lost=len(set(created) - (published & emailed)), outbox_restarts=len(outbox_restarts),
           partition_restarts=len(partition_restarts), ready_after=ready, rate=rate, seconds=seconds)
    problems = []
    if failures:
        problems.append(f"{failures} requests not answered 201")
    if set(created) - (published & emailed):
        problems.append(f"lost: {sorted(set(created) - (published & emailed))[:10]}")
    if len(outbox_restarts) != 3 or len(partition_restarts) != 3:
        problems.append(f"expected 3 restarts of each actor: outbox {outbox_restarts}, "
                        f"partitions {partition_restarts}")
    if any("cause=injected fault" not in line for line in outbox_restarts + partition_restarts):
        problems.append("a restart line does not name its cause")
    if ready != [200, 200]:
        problems.append(f"not ready after the panics: store-manager, coolriel = {ready}")
    for name in ("store-manager", "coolriel"):
        system.terminate(name)
    system.start_store()
    system.start_coolriel()
    for problem in problems:
        print(f"  panics: {problem}", flush=True)
    return not problems


def broker_gone_at_shutdown(system, bound):
    """The broker stops, then both services get SIGTERM: each exits within the bound; a
    restart loses nothing."""
    for name, start in (("store-manager", system.start_store), ("coolriel", system.start_coolriel)):
        if name not in system.procs:
            start()
    created = []
    for n in range(20):
        status, user_id = system.post_user(700_000 + n)
        if status == 201:
            created.append(user_id)
    deadline = time.time() + 30
    while emails_present(system.output, "welcome", created) != set(created) and time.time() < deadline:
        time.sleep(0.2)
    system.kill("broker")
    # Committed while the broker is away: store-manager cannot publish it before it exits.
    status, stranded = system.post_user(700_100)
    if status == 201:
        created.append(stranded)
    exits = {}
    for name in ("store-manager", "coolriel"):
        exits[name] = system.terminate(name, timeout=bound + 15)
    system.start_broker()
    system.start_store()
    system.start_coolriel()
    deadline = time.time() + 90
    while emails_present(system.output, "welcome", created) != set(created) and time.time() < deadline:
        time.sleep(0.25)
    emailed = emails_present(system.output, "welcome", created)
    published = {r["event"]["id"] for r in system.replay() if r["event_type"] == "UserCreated"}
    text = lambda name: f"{exits[name][0]}@{exits[name][1]:.1f}s"
    report("broker-gone-at-shutdown", accepted=len(created), store_exit=text("store-manager"),
           coolriel_exit=text("coolriel"), bound_s=bound,
           published=len(set(created) & published), emailed=len(emailed),
           lost=len(set(created) - (published & emailed)))
    problems = []
    for name, (code, took) in exits.items():
        if code is None or took > bound + 1:
            problems.append(f"{name} exit {code} after {took:.1f} s (bound {bound} s)")
    if exits["store-manager"][0] == 0 and status == 201:
        problems.append("store-manager exited 0 with an event it could not publish")
    if set(created) - (published & emailed):
        problems.append(f"lost after the restart: {sorted(set(created) - (published & emailed))}")
    for problem in problems:
        print(f"  broker-gone-at-shutdown: {problem}", flush=True)
    return not problems


CASES = ["consumer-crash", "producer-crash", "broker-outage", "load", "graceful-shutdown",
         "disk-full", "db-connections", "panics", "broker-gone-at-shutdown"]
# The shutdown bound both services are given (their default, 15 s).
SHUTDOWN_BOUND = 15


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--bins", required=True)
    parser.add_argument("--tansu", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case", action="append", choices=CASES,
                        help="run only this case (repeatable); default: every case")
    parser.add_argument("--load-rate", type=float, default=100,
                        help="requests per second of the load case (default 100)")
    parser.add_argument("--load-seconds", type=float,
                        help="length of the load case (default 40 with --quick, else 600)")
    parser.add_argument("--shutdown-rate", type=float, default=50,
                        help="users created per second in the graceful-shutdown case (default 50)")
    args = parser.parse_args()
    cases = args.case or CASES
    users = 400 if args.quick else 50_000
    outage = 5 if args.quick else 20
    load_seconds = args.load_seconds or (40 if args.quick else 600)
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
        if "load" in cases:
            results["load"] = load(system, load_seconds, args.load_rate)
        if "graceful-shutdown" in cases:
            results["graceful-shutdown"] = graceful_shutdown(
                system, 1 if args.quick else 5, 5 if args.quick else 20, args.shutdown_rate)
        if "disk-full" in cases:
            results["disk-full"] = disk_full(system, 200 if args.quick else 5_000)
        if "db-connections" in cases:
            results["db-connections"] = db_connections(system, 30 if args.quick else 300)
        if "panics" in cases:
            results["panics"] = panics(system, 20 if args.quick else 300, 50)
        if "broker-gone-at-shutdown" in cases:
            results["broker-gone-at-shutdown"] = broker_gone_at_shutdown(system, SHUTDOWN_BOUND)
    finally:
        system.stop_all()
    failed = [case for case, ok in results.items() if not ok]
    print("chaos: " + ("all cases passed" if not failed else "FAILED: " + ", ".join(failed)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
