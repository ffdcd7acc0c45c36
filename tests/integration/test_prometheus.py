"""The Prometheus files of deploy/prometheus/ against a real agent and a
real Prometheus (Debian's): every metric the alerting rules and the
dashboard read is on a running agent's /metrics, and the shipped rules,
loaded by Prometheus and evaluated on its scrapes, fire the right alert
for a stopped agent (BrasaDown) and for a stalled sampling loop whose
endpoint still answers (BrasaSamplingStalled), and neither while the agent
is healthy (issue 15)."""
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from harness import SRC, TMP, Agent, check, fail, free_port, integration_test, wait_for

sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
import prom_files  # noqa: E402

PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207


def scaled_rules(path):
    """The shipped rules with every duration in minutes made seconds (for:
    5m -> 5s, [15m] -> [15s]): the same expressions and thresholds, at a
    test's pace (promtool test rules checks them at their real one)."""
    text = open(path).read()
    text = re.sub(r"(for: )(\d+)m\b", r"\1\2s", text)
    return re.sub(r"\[(\d+)m\]", r"[\1s]", text)


class Prometheus:
    def __init__(self, target):
        self.port = free_port()
        rules = os.path.join(TMP, "brasa-alerts.yaml")
        open(rules, "w").write(scaled_rules(prom_files.rules_path(SRC)))
        conf = os.path.join(TMP, "prometheus.yml")
        open(conf, "w").write(
            "global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}\n"
            f"rule_files: [{rules}]\n"
            "scrape_configs:\n"
            f"  - job_name: brasa\n    static_configs: [{{targets: ['{target}']}}]\n")
        self.log = open(os.path.join(TMP, "prometheus.log"), "w+")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={conf}", f"--storage.tsdb.path={TMP}/prometheus-data",
             f"--web.listen-address=127.0.0.1:{self.port}"], stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: self.query('up{job="brasa"}') == [1.0], 30):
            fail(f"Prometheus does not scrape the agent: up = {self.query('up')}; log:\n{self.output()}")

    def api(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/{path}", timeout=5) as r:
            return json.load(r)["data"]

    def query(self, expr):
        try:
            res = self.api("query?query=" + urllib.parse.quote(expr))["result"]
        except OSError:
            return None
        return [float(r["value"][1]) for r in res]

    def alerts(self, state="firing"):
        """{alert name: [labels]} of the alerts in state."""
        out = {}
        try:
            alerts = self.api("alerts")["alerts"]
        except OSError:
            return out
        for a in alerts:
            if a["state"] == state:
                out.setdefault(a["labels"]["alertname"], []).append(a["labels"])
        return out

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def libc_ptrace(req, tid):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(req, tid, None, None) != 0:
        fail(f"ptrace({req:#x}, {tid}): {os.strerror(ctypes.get_errno())}")


def stall_loop(agent):
    """Stops the agent's sampling loop (its main thread) and only it, as a
    loop stuck in a kernel call would be: ptrace-interrupted, the other
    threads (the endpoint's) run on. Returns once /metrics still answers
    (the loop was not stopped inside a drain, which holds the lock
    /metrics reads under: then it is let go and stopped again)."""
    pid = agent.proc.pid
    for attempt in range(5):
        libc_ptrace(PTRACE_SEIZE, pid)
        libc_ptrace(PTRACE_INTERRUPT, pid)
        os.waitpid(pid, 0x40000000)  # __WALL: the interrupt's stop
        try:
            agent.get("/metrics", timeout=3)
            return
        except OSError:
            libc_ptrace(PTRACE_DETACH, pid)
            time.sleep(0.37)
    fail("the sampling loop could not be stopped outside a drain in 5 tries")


@integration_test(timeout=240)
def t_prometheus_alerts():
    """Every metric of the rules and the dashboard on /metrics (an agent with
    a remote, so the upload families exist, the history and off-CPU on);
    then Prometheus with the shipped rules: the dead backend fires
    BrasaUploadsFailing, and neither BrasaDown nor BrasaSamplingStalled is
    pending while the agent runs; SIGSTOP fires BrasaDown (and not BrasaSamplingStalled: no
    scrape, no series); the loop alone stopped fires BrasaSamplingStalled
    while /metrics answers, and /healthz says 503."""
    dead = free_port()  # nothing listens: the uploads fail, the families exist
    agent = Agent("--remote-url", f"http://127.0.0.1:{dead}", "--upload-interval", "10s",
                  "--spool-dir", os.path.join(TMP, "spool"), "--off-cpu")
    prom = None
    try:
        text = agent.metrics()
        on_metrics = set(re.findall(r"^# TYPE (\S+)", text, re.M)) | {"up"}
        wanted = {}
        for alert, expr in prom_files.rule_exprs(prom_files.rules_path(SRC)).items():
            for m in prom_files.metric_names(expr):
                wanted.setdefault(m, []).append(f"alert {alert}")
        for title, expr in prom_files.dashboard_exprs(prom_files.dashboard_path(SRC)):
            for m in prom_files.metric_names(expr):
                wanted.setdefault(m, []).append(f"panel {title!r}")
        missing = {m: w for m, w in wanted.items() if m not in on_metrics}
        check(len(wanted) >= 20 and not missing,
              f"the {len(wanted)} metrics of the rules and the dashboard are on /metrics "
              f"(missing: {missing})")

        prom = Prometheus(f"127.0.0.1:{agent.port}")
        # the remote refuses every connection: the upload alert fires (after
        # its scaled 10 s range and 5 s for), for the agent's instance
        fired = wait_for(lambda: "BrasaUploadsFailing" in prom.alerts(), 40)
        firing, pending = prom.alerts(), prom.alerts("pending")
        print(f"firing: {sorted(firing)}, pending: {sorted(pending)} (what else fires depends on "
              f"this host: e.g. incomplete stacks of short processes under a loaded machine)")
        check(fired and firing["BrasaUploadsFailing"][0]["instance"] == f"127.0.0.1:{agent.port}",
              f"a dead backend fires BrasaUploadsFailing ({firing})")
        quiet = {"BrasaDown", "BrasaSamplingStalled"} & (set(firing) | set(pending))
        check(not quiet, f"a running agent: BrasaDown and BrasaSamplingStalled quiet ({quiet})")

        agent.proc.send_signal(signal.SIGSTOP)
        try:
            fired = wait_for(lambda: "BrasaDown" in prom.alerts(), 30)
            firing = prom.alerts()
        finally:
            agent.proc.send_signal(signal.SIGCONT)
        check(fired and firing["BrasaDown"][0].get("instance") == f"127.0.0.1:{agent.port}"
              and "BrasaSamplingStalled" not in firing,
              f"SIGSTOP: BrasaDown fires for the agent's instance, not BrasaSamplingStalled ({firing})")
        check(wait_for(lambda: "BrasaDown" not in prom.alerts(), 30),
              f"SIGCONT: BrasaDown resolves ({prom.alerts()})")

        stall_loop(agent)
        try:
            fired = wait_for(lambda: "BrasaSamplingStalled" in prom.alerts(), 60)
            firing = prom.alerts()
            # /healthz turns 503 after 10 drain intervals without a drain
            wait_for(lambda: agent.get("/healthz", timeout=5)[0] == 503, 30)
            status, _, body = agent.get("/healthz", timeout=5)
        finally:
            libc_ptrace(PTRACE_DETACH, agent.proc.pid)
        check(fired and "BrasaDown" not in firing,
              f"the loop stopped, the endpoint answering: BrasaSamplingStalled fires, not BrasaDown "
              f"({firing})")
        check(status == 503 and b"stalled" in body, f"/healthz: 503 stalled ({status} {body!r})")
        check(wait_for(lambda: agent.get("/healthz")[0] == 200, 20), "the loop let go: healthy again")
    finally:
        if prom:
            prom.stop()
        agent.stop()
