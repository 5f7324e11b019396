#!/usr/bin/env python3
"""Apply the kubelet's exec-probe rules to a container's probes, for real, over time.

Reads startupProbe, readinessProbe and livenessProbe of one container of a pod
manifest (YAML, several documents allowed) and runs their commands as the
kubelet would (https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/):

- Defaults: initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1,
  successThreshold 1, failureThreshold 3.
- A probe that exits non-zero, or runs longer than timeoutSeconds, fails.
- While a startup probe is defined, readiness and liveness wait for it. It
  succeeds after successThreshold (always 1) success and is then never run
  again; failureThreshold consecutive failures restart the container.
- Readiness: the container starts not ready; successThreshold consecutive
  successes make it ready, failureThreshold consecutive failures not ready.
  Readiness never restarts a container.
- Liveness: failureThreshold consecutive failures restart the container.

Each probe command runs as `PREFIX... COMMAND...` (--exec-prefix, e.g. an
nsenter into the pod). The simulation stops at the first restart, when
--until=ready and the container is ready, or after --duration seconds.
Prints one line per probe run, then one JSON summary line:
{"restarted": bool, "started": bool, "started_at": s|null, "ready": bool,
 "ready_at": s|null, "probes": {name: runs}, "elapsed": s}.
Exit 0 when the simulation ran (whatever it found), 2 on bad input.
"""

import argparse
import json
import shlex
import subprocess
import sys
import time

import yaml

DEFAULTS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}


def container_of(manifest, name):
    """The container `name` of the first Pod in the manifest."""
    with open(manifest) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for d in docs:
        if d.get("kind") != "Pod":
            continue
        for c in d["spec"]["containers"]:
            if c["name"] == name:
                return c
    raise SystemExit(f"kubelet-probes: no container {name!r} in a Pod of {manifest}")


class Probe:
    def __init__(self, kind, spec):
        self.kind = kind
        cfg = dict(DEFAULTS)
        cfg.update({k: v for k, v in spec.items() if k in DEFAULTS})
        if "exec" not in spec:
            raise SystemExit(f"kubelet-probes: {kind} is not an exec probe")
        self.command = list(spec["exec"]["command"])
        self.delay = cfg["initialDelaySeconds"]
        self.period = cfg["periodSeconds"]
        self.timeout = cfg["timeoutSeconds"]
        self.success_threshold = 1 if kind != "readiness" else cfg["successThreshold"]
        self.failure_threshold = cfg["failureThreshold"]
        self.next = None  # when it runs next (seconds since the container started)
        self.successes = 0
        self.failures = 0
        self.runs = 0

    def run(self, prefix, t, log):
        """Run once; True on success. A timeout is a failure, as for the kubelet."""
        self.runs += 1
        started = time.monotonic()
        try:
            p = subprocess.run(
                prefix + self.command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=self.timeout,
            )
            ok, what = p.returncode == 0, f"exit {p.returncode}"
            out = p.stdout.decode(errors="replace").strip().splitlines()
            line = out[-1] if out else ""
        except subprocess.TimeoutExpired:
            ok, what, line = False, f"timed out after {self.timeout} s", ""
        took = time.monotonic() - started
        if ok:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1
        log(f"t={t:6.1f}s {self.kind:9} {' '.join(self.command)}: {what} ({took:.2f} s) {line}")
        return ok


def simulate(container, prefix, duration, until):
    probes = {
        kind: Probe(kind, container[key])
        for kind, key in (
            ("startup", "startupProbe"),
            ("readiness", "readinessProbe"),
            ("liveness", "livenessProbe"),
        )
        if key in container
    }
    log = lambda s: print(s, flush=True)
    t0 = time.monotonic()
    started = "startup" not in probes
    started_at = 0.0 if started else None
    ready, ready_at, restarted = False, None, False
    for p in probes.values():
        p.next = p.delay
    while True:
        t = time.monotonic() - t0
        if t > duration or (until == "ready" and ready):
            break
        due = [
            p
            for p in probes.values()
            if p.next is not None
            and p.next <= t
            and (p.kind == "startup" or started)
        ]
        for p in due:
            ok = p.run(prefix, t, log)
            p.next = max(p.next + p.period, time.monotonic() - t0)
            if p.kind == "startup":
                if ok:
                    started, started_at = True, round(time.monotonic() - t0, 1)
                    p.next = None
                    log(f"t={started_at:6.1f}s container started (startup probe succeeded)")
                    for q in probes.values():
                        if q.kind != "startup":
                            q.next = max(q.delay, started_at)
                elif p.failures >= p.failure_threshold:
                    restarted = True
            elif p.kind == "liveness" and p.failures >= p.failure_threshold:
                restarted = True
            elif p.kind == "readiness":
                if not ready and p.successes >= p.success_threshold:
                    ready, ready_at = True, round(time.monotonic() - t0, 1)
                    log(f"t={ready_at:6.1f}s container ready")
                elif ready and p.failures >= p.failure_threshold:
                    ready = False
                    log(f"t={time.monotonic() - t0:6.1f}s container not ready")
            if restarted:
                log(f"t={time.monotonic() - t0:6.1f}s container restarted ({p.kind} probe failed {p.failures} times)")
                break
        if restarted or (until == "ready" and ready):
            break
        pending = [p.next for p in probes.values() if p.next is not None]
        wake = min(pending) if pending else duration
        time.sleep(max(0.0, min(wake, duration) - (time.monotonic() - t0)) or 0.01)
    return {
        "restarted": restarted,
        "started": started,
        "started_at": started_at,
        "ready": ready,
        "ready_at": ready_at,
        "probes": {k: p.runs for k, p in probes.items()},
        "elapsed": round(time.monotonic() - t0, 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--container", required=True)
    ap.add_argument("--exec-prefix", default="", help="shell words run before each probe command")
    ap.add_argument("--duration", type=float, required=True, help="seconds to simulate at most")
    ap.add_argument("--until", choices=["ready", "duration"], default="duration")
    a = ap.parse_args()
    container = container_of(a.manifest, a.container)
    summary = simulate(container, shlex.split(a.exec_prefix), a.duration, a.until)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    sys.exit(main())
