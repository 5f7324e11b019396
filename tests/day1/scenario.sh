# shellcheck shell=bash
# Day one in a real cluster (issue 11), sourced by tests/e2e/devpod.sh for the scenarios
# `day1` and `day1-degraded`; it uses the harness's pod (pod_up, pod_start, …).
#
# The pod is the example's (examples/k8s/devpod.yaml): its DIND_* env, dind-init as PID 1
# started as root with DIND_USER=coder (the documented fix for images ending in `USER coder`),
# `sleep infinity` as the session, and a FRESH volume at /home/coder as a provisioner makes
# it: ext4, its root owned by root:root 0755. The example's own startupProbe and
# readinessProbe are run against the pod by tests/probes/kubelet-probes.py, which applies
# the kubelet's rules (period, timeout, thresholds) to `dind-init status` over time.
#
#   day1           Docker works: started, then ready, never restarted; coder can write
#                  their home and run a container (`docker run --pull=never`).
#   day1-degraded  dockerd fails to start (DIND_DOCKERD is a program that exits 1): the
#                  startup probe still succeeds (dind-init settled), the pod is never ready
#                  and never restarted, and coder's session and home still work.
#   day1-nonroot   the mistake the pattern fixes: dind-init started as coder (an image
#                  ending in `USER coder`): one line in the pod log names the fix, `doctor`
#                  run as coder shows it as its first ✘, `status` says it, the session runs.

DAY1_MANIFEST=$REPO/examples/k8s/devpod.yaml
DAY1_SIM=$REPO/tests/probes/kubelet-probes.py

# The example container's env (NAME=VALUE lines), read from the manifest itself.
day1_example_env() {
	python3 - "$DAY1_MANIFEST" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "Pod":
        for c in d["spec"]["containers"]:
            if c["name"] == "devpod":
                for e in c.get("env", []):
                    print(f'{e["name"]}={e["value"]}')
PY
}

# day1_in_pod INIT CMD...: run CMD inside the pod (its namespaces and root), as root, the
# way `kubectl exec` and the kubelet's exec probes do.
day1_in_pod() {
	local init=$1
	shift
	nsenter -t "$init" -m -p -n -r -w -- /usr/bin/env -i "PATH=$POD_PATH" HOME=/root "$@"
}

# day1_as_coder INIT SCRIPT: run SCRIPT with sh inside the pod as uid 1000 with coder's groups.
day1_as_coder() {
	day1_in_pod "$1" setpriv --reuid 1000 --regid 1000 --init-groups \
		/usr/bin/env HOME=/home/coder USER=coder /bin/sh -c "$2"
}

# day1_probes NAME INIT SECONDS UNTIL: the example's probes against the pod; sets PROBES (JSON).
day1_probes() {
	local name=$1 init=$2 secs=$3 until=$4
	python3 "$DAY1_SIM" --manifest "$DAY1_MANIFEST" --container devpod \
		--exec-prefix "nsenter -t $init -m -p -n -r -w -- /usr/bin/env -i PATH=$POD_PATH" \
		--duration "$secs" --until "$until" >"$LOGS/$name-probes.log" 2>&1 ||
		fail "$name: the probe simulator failed: $(tail -3 "$LOGS/$name-probes.log")"
	sed "s/^/  [$name-probes] /" "$LOGS/$name-probes.log"
	PROBES=$(tail -1 "$LOGS/$name-probes.log")
}

# day1_json KEY: the value of KEY in PROBES.
day1_json() {
	python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])[sys.argv[2]]))' "$PROBES" "$1"
}

# What dind-init wrote for examples/daemon.json.before is examples/daemon.json.after, byte
# for byte; DAY1_WRITE_AFTER=1 writes it there instead (then review the diff).
day1_daemon_json_after() {
	local after=$REPO/examples/daemon.json.after written=$ROOT/etc/docker/daemon.json
	if [[ -n ${DAY1_WRITE_AFTER:-} ]]; then
		cp "$written" "$after"
		say "wrote $after from the pod's /etc/docker/daemon.json"
	fi
	cmp -s "$written" "$after" ||
		fail "examples/daemon.json.after is not what dind-init wrote for daemon.json.before (regenerate: DAY1_WRITE_AFTER=1 devpod.sh --bin … day1):
$(diff -u "$after" "$written")"
	echo "evidence: the pod's /etc/docker/daemon.json after the start is examples/daemon.json.after: $(tr -d ' \n' <"$written")"
}

# day1_nonroot NAME: PID 1 started as coder (uid 1000), as `USER coder` would.
day1_nonroot() {
	local name=$1 init first rc=0 out
	pod_start "$name" auto /usr/bin/setpriv --reuid 1000 --regid 1000 --init-groups \
		"$DI" -- /bin/sleep infinity
	init=$(pod_init_pid)
	wait_line "$name" 'runs as uid 1000, not root' 20
	expect_log "$name" 'USER root.*DIND_USER=coder.*runAsUser: 0' "one line naming the fix"
	grep -m1 'runs as uid 1000, not root' "$LOGS/$name.log" | sed 's/^/evidence: pod log: /'
	# kubectl exec and the probes run as the container's user: coder here.
	day1_as_coder "$init" 'dind-init doctor' >"$LOGS/$name-doctor.log" 2>&1 || rc=$?
	((rc == 1)) || fail "$name: doctor as coder exited $rc, expected 1: $(cat "$LOGS/$name-doctor.log")"
	first=$(grep -m1 '^✘' "$LOGS/$name-doctor.log" || true)
	[[ $first == '✘ started as root: dind-init runs as uid 1000, not root'* ]] ||
		fail "$name: doctor's first ✘ is not the non-root start: $(cat "$LOGS/$name-doctor.log")"
	echo "evidence: doctor as coder, exit $rc, first failure: $first"
	rc=0
	out=$(day1_as_coder "$init" 'dind-init status --settled' 2>&1) || rc=$?
	((rc == 1)) && [[ $out == *'USER root'* ]] || fail "$name: status --settled as coder: exit $rc: $out"
	echo "evidence: status --settled as coder: exit $rc: $out"
	kill -0 "$POD_PID" 2>/dev/null || fail "$name: the pod ended; the session must run"
	kill -TERM "$init"
	pod_wait 40
	POD_EXTRA_ENV=()
	say "PASS $name: started as coder, dind-init names the fix, doctor's first ✘ says it"
}

scenario_day1() { # scenario_day1 ""|-degraded
	local variant=${1#-} name=day1${1} init owner
	[[ -n $variant ]] || variant=healthy
	case $variant in healthy | degraded | nonroot) ;; *) fail "unknown day1 variant '$variant'" ;; esac
	mapfile -t POD_EXTRA_ENV < <(day1_example_env)
	((${#POD_EXTRA_ENV[@]} > 0)) || fail "no env in the example pod of $DAY1_MANIFEST"
	# The example leaves DIND_REQUIRE_DOCKER unset (false): Docker trouble never locks the
	# user out. The harness's own default (true) must not hide that.
	POD_EXTRA_ENV+=(DIND_REQUIRE_DOCKER=false DIND_LOG=info)
	pod_up
	if [[ $variant == degraded ]]; then
		# A dockerd that reports a version and then dies at start, like a broken engine.
		printf '%s\n' '#!/bin/sh' \
			'[ "$1" = --version ] && { echo "Docker version 20.10.24+dfsg1, build 297e128"; exit 0; }' \
			'echo "failed to start daemon: simulated breakage (day1-degraded)" >&2' 'exit 1' \
			>"$ROOT/usr/local/bin/dockerd-broken"
		chmod 0755 "$ROOT/usr/local/bin/dockerd-broken"
		POD_EXTRA_ENV+=(DIND_DOCKERD=/usr/local/bin/dockerd-broken)
	fi
	# The image's own daemon.json is the README's example (no bridge/iptables overrides of
	# the harness): what dind-init writes for it in this pod is examples/daemon.json.after.
	install -m 0644 "$REPO/examples/daemon.json.before" "$ROOT/etc/docker/daemon.json"
	owner=$(stat -c '%u:%g %a' "$ROOT/home/coder")
	[[ $owner == "0:0 755" ]] || fail "$name: the fresh volume's root is $owner, not 0:0 755"
	echo "evidence: fresh volume at /home/coder: ext4, owner:group mode $owner"
	say "$name: the example pod ($(printf '%s ' "${POD_EXTRA_ENV[@]}")) on a fresh root-owned volume"
	if [[ $variant == nonroot ]]; then
		day1_nonroot "$name"
		return
	fi
	pod_start "$name" auto "$DI" -- /bin/sleep infinity
	init=$(pod_init_pid)
	if [[ $variant == healthy ]]; then
		day1_probes "$name" "$init" 150 ready
		[[ $(day1_json restarted) == false ]] || fail "$name: the kubelet would have restarted the pod"
		[[ $(day1_json started) == true ]] || fail "$name: the startup probe never succeeded"
		[[ $(day1_json ready) == true ]] || fail "$name: the pod never became ready"
		echo "evidence: kubelet rules on the example's probes: started at $(day1_json started_at) s, ready at $(day1_json ready_at) s, no restart"
	else
		# Long enough for the readiness probe to fail past its threshold (3 × 10 s).
		day1_probes "$name" "$init" 45 duration
		[[ $(day1_json restarted) == false ]] || fail "$name: the kubelet would have restarted the degraded pod"
		[[ $(day1_json started) == true ]] || fail "$name: the startup probe never succeeded (dind-init did not settle)"
		[[ $(day1_json ready) == false ]] || fail "$name: a pod without Docker was reported ready"
		echo "evidence: kubelet rules on the example's probes: started at $(day1_json started_at) s, never ready, no restart in $(day1_json elapsed) s"
		expect_log "$name" 'DOCKER IS NOT AVAILABLE' "banner saying the session runs without Docker"
		kill -0 "$POD_PID" 2>/dev/null || fail "$name: the pod ended"
	fi
	expect_log "$name" 'plan: 1\. chown 1000:1000 /home/coder ' "plan step giving the home to coder, first"
	grep -m1 'plan: 1\. chown' "$LOGS/$name.log" | sed 's/^/evidence: pod log: /'
	owner=$(stat -c '%u:%g %a' "$ROOT/home/coder")
	[[ $owner == "1000:1000 755" ]] || fail "$name: the home is $owner after the start, not 1000:1000 755"
	day1_as_coder "$init" 'touch "$HOME/day1-written" && mkdir -p "$HOME/.config" && echo ok' \
		>"$LOGS/$name-home.log" 2>&1 || fail "$name: coder cannot write their home: $(cat "$LOGS/$name-home.log")"
	echo "evidence: as uid 1000: touch ~/day1-written and mkdir ~/.config: $(cat "$LOGS/$name-home.log")"
	[[ $(stat -c %u "$ROOT/home/coder/lost+found") == 0 ]] || fail "$name: lost+found changed owner (the chown must not recurse)"
	if [[ $variant == healthy ]]; then
		day1_daemon_json_after
		day1_as_coder "$init" 'docker import /opt/e2e/busybox.tar day1:bb >/dev/null &&
			docker run --rm --pull=never --network none day1:bb echo container-ran' \
			>"$LOGS/$name-docker.log" 2>&1 || fail "$name: docker run as coder failed: $(tail -3 "$LOGS/$name-docker.log")"
		grep -q '^container-ran$' "$LOGS/$name-docker.log" || fail "$name: no output from the container: $(cat "$LOGS/$name-docker.log")"
		echo "evidence: as uid 1000: docker run --rm --pull=never → $(tail -1 "$LOGS/$name-docker.log")"
	fi
	# The pod is deleted: SIGTERM to PID 1; the kubelet would wait terminationGracePeriodSeconds.
	kill -TERM "$init"
	local phase="" tries=0
	until [[ $phase == *'"phase": "stopping"'* ]] || ((tries++ >= 100)); do
		phase=$(day1_in_pod "$init" dind-init status --settled --json 2>/dev/null || true)
		sleep 0.02
	done
	[[ $phase == *'"phase": "stopping"'* ]] || fail "$name: status never said stopping after SIGTERM: $phase"
	echo "evidence: after SIGTERM, status --settled --json: $(grep -E '"(phase|exit)"' <<<"$phase" | tr -d ' \n')"
	pod_wait 40
	say "$name: pod stopped, exit $RC after SIGTERM"
	POD_EXTRA_ENV=()
	say "PASS $name: fresh root-owned volume, example probes by the kubelet's rules ($variant)"
}
