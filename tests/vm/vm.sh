#!/usr/bin/env bash
# Boot Debian's kernel in a qemu VM on a pure cgroup v2 hierarchy and run devpod cells in it
# (tests/vm.rs drives it; tests/vm/guest.sh runs inside). The guest's root is the host's root,
# shared read-only over 9p, so it runs this repo's harness, the host's dockerd 20.10 and the
# trixie engine unchanged; guest.sh puts tmpfs where it writes. Output is the serial console;
# guest.sh prints one "VMCELL <name> PASS|FAIL <ms>" line per cell and "VMDONE" at the end.
#
# Usage: vm.sh --bin DIND_INIT [--timeout S] CELL...   (cells: see guest.sh)
# Needs root (for -virtfs passthrough), qemu-system-x86 and linux-image-amd64 (scripts/deps),
# busybox-static. KVM is used when a short trial boot with it works, TCG otherwise.
# Exit: qemu's status (124 on the hard timeout); the caller judges the VMCELL lines.
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
BIN=
TIMEOUT=${VM_TIMEOUT:-1500}
CELLS=()
while (($#)); do
	case $1 in
	--bin) BIN=$(realpath "$2"); shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	-*) echo "vm.sh: unknown option $1" >&2; exit 2 ;;
	*) CELLS+=("$1"); shift ;;
	esac
done
[[ -n $BIN && -x $BIN ]] || { echo "vm.sh: --bin must name the dind-init binary to test" >&2; exit 2; }
((${#CELLS[@]})) || { echo "vm.sh: no cell to run" >&2; exit 2; }

die() {
	echo "vm.sh: ERROR: $*" >&2
	exit 3
}
say() { echo "[vm] $*" >&2; }

QEMU=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found (scripts/deps installs qemu-system-x86)"
BB=$(command -v busybox) || die "busybox not found (scripts/deps installs busybox-static)"
ldd "$BB" >/dev/null 2>&1 && die "$BB is dynamically linked; install busybox-static"
# Debian's newest installed kernel image and its modules.
KVER=
for v in /boot/vmlinuz-*; do
	[[ -e $v ]] || continue
	k=${v#/boot/vmlinuz-}
	[[ -d /lib/modules/$k ]] && KVER=$k
done
[[ -n $KVER ]] || die "no /boot/vmlinuz-* with /lib/modules/* (scripts/deps installs linux-image-amd64)"
KERNEL=/boot/vmlinuz-$KVER
MODS=/lib/modules/$KVER

# The initramfs: busybox, the modules that reach the 9p root (the rest are loaded from there
# with the host's modprobe), and init. Rebuilt when any input is newer.
WORK=${VM_WORK:-$REPO/target/vm}
mkdir -p "$WORK"
INITRD=$WORK/initramfs-$KVER.cpio.gz
NINE_P=(virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci 9pnet 9pnet_virtio netfs fscache 9p)
if [[ ! -s $INITRD || $VM_DIR/init -nt $INITRD || $BB -nt $INITRD ]]; then
	say "building $INITRD"
	stage=$(mktemp -d "$WORK/initramfs.XXXXXX")
	mkdir -p "$stage"/{bin,dev,proc,sys,mnt,lib/modules}
	cp "$BB" "$stage/bin/busybox"
	for a in sh mount umount mkdir insmod echo cat poweroff reboot sleep chroot switch_root; do
		ln -s busybox "$stage/bin/$a"
	done
	for m in "${NINE_P[@]}"; do
		ko=$(grep -oE "^[^:]*/$m\.ko(\.[a-z]+)?:" "$MODS/modules.dep" | head -1) ||
			die "module $m not in $MODS/modules.dep"
		cp "$MODS/${ko%:}" "$stage/lib/modules/"
	done
	printf '%s\n' "${NINE_P[@]}" >"$stage/lib/modules/order"
	install -m 0755 "$VM_DIR/init" "$stage/init"
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD"
	rm -rf "$stage"
fi

# qemu ARGS...: the VM with the host's / as the guest's 9p root, serial console on stdout.
qemu_cmd() { # qemu_cmd ACCEL MEM KERNEL-ARGS
	QEMU_CMD=("$QEMU" -accel "$1" -m "$2" -smp "$(nproc)" -nographic -no-reboot -nodefaults
		-serial stdio -kernel "$KERNEL" -initrd "$INITRD"
		-virtfs local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap
		-append "console=ttyS0 quiet panic=-1 $3")
	[[ $1 == kvm ]] && QEMU_CMD+=(-cpu host)
	return 0
}

# KVM when a bounded trial boot with it reaches the guest's init and powers off; TCG otherwise.
# The verdict is kept for this host boot and kernel (a hanging trial costs its whole limit).
ACCEL=tcg,thread=multi
TRIAL=$WORK/kvm-trial-$KVER-$(cat /proc/sys/kernel/random/boot_id)
if [[ -z ${VM_ACCEL:-} && -w /dev/kvm && -s $TRIAL ]]; then
	ACCEL=$(cat "$TRIAL")
	say "KVM trial boot (earlier, this host boot): ${ACCEL%%,*}"
elif [[ -z ${VM_ACCEL:-} && -w /dev/kvm ]]; then
	qemu_cmd kvm 256 "dindvm.trial=1"
	if timeout -k 2 "${VM_KVM_TRIAL:-15}" "${QEMU_CMD[@]}" </dev/null 2>&1 | grep -q '^VMTRIAL ok'; then
		ACCEL=kvm
	fi
	echo "$ACCEL" >"$TRIAL"
	say "KVM trial boot: $([[ $ACCEL == kvm ]] && echo works || echo 'no answer within the limit: TCG')"
elif [[ -n ${VM_ACCEL:-} ]]; then
	ACCEL=$VM_ACCEL
fi
say "accel $ACCEL, kernel $KVER, cells: ${CELLS[*]}"
echo "VMACCEL ${ACCEL%%,*} kernel $KVER"
cells=$(IFS=,; echo "${CELLS[*]}")
qemu_cmd "$ACCEL" "${VM_MEM:-3072}" "dindvm.repo=$REPO dindvm.bin=$BIN dindvm.cells=$cells"
rc=0
timeout -k 5 "$TIMEOUT" "${QEMU_CMD[@]}" </dev/null || rc=$?
((rc != 124)) || echo "VMTIMEOUT after $TIMEOUT s"
exit "$rc"
