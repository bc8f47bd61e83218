#!/usr/bin/env bash
# make check-vm: the netns tests on Debian 12's stock kernel (linux-image-amd64) in
# qemu-system-x86_64 under TCG (no /dev/kvm needed). The guest is the host itself: a small
# initramfs (busybox-static, virtio/9p/overlay modules) mounts the host's root read-only over
# 9p under a tmpfs overlay and chroots into it, so the programs, tests and build directory are
# the host's own; modules load on demand from /lib/modules as on a real host. The guest has
# no network device (-nic none): only loopback and the namespaces the tests create.
# Its output comes over the serial console; its exit code through a writable 9p export of a
# temporary directory; a timeout on qemu turns a hang into a failure.
# Usage: tests/vm/run.sh [PATTERN...]   (default: CTNET_VM_TESTS below)
# Environment: CTNET_BIN (build dir, default ./build), CTNET_VM_KERNEL (version in /boot,
# default the newest *-amd64), CTNET_VM_TIMEOUT (seconds for the whole VM, default 5400),
# CTNET_VM_MEM (MiB, default 2048), CTNET_VM_CPUS (default 2), CTNET_VM_APPEND (more kernel
# arguments), CTNET_VM_CMD (a command to run in the guest instead of the tests).
# CTNET_TEST_TIMEOUT (per test, tests/run.sh) is 1800 s in the guest unless set.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
: "${CTNET_BIN:=$REPO/build}"
CTNET_BIN=$(cd "$CTNET_BIN" && pwd)
# netem and impairment, up/down with IPv6 (ctnet-netd, ctnet), NAT and forwards, loopback
# forwards by BPF (cgroup sock_addr hooks: their detach semantics differ from 6.18's), watch,
# apply, doctor, MTU.
DEFAULT_TESTS="test_netd_netem test_netd_impair test_netd.sh test_ctnet_up test_nat.sh
test_nat_lofwd test_ctnet_watch test_ctnet_apply.sh test_doctor test_mtu"
TESTS=${*:-${CTNET_VM_TESTS:-$DEFAULT_TESTS}}
TIMEOUT=${CTNET_VM_TIMEOUT:-5400}
start=$(date +%s)

fail_out() { echo "FAIL check-vm: $*"; echo "0 passed, 1 failed"; exit 1; }
for t in qemu-system-x86_64 busybox modprobe cpio; do
	command -v "$t" >/dev/null || fail_out "$t not found (tools/deps.sh installs it)"
done
[ -x /bin/busybox ] && bb=/bin/busybox || bb=$(command -v busybox)
if [ -n "${CTNET_VM_KERNEL:-}" ]; then
	kver=$CTNET_VM_KERNEL
else
	kver=$(find /boot -maxdepth 1 -name 'vmlinuz-*-amd64' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
fi
[ -n "$kver" ] && [ -r "/boot/vmlinuz-$kver" ] && [ -d "/lib/modules/$kver/kernel" ] ||
	fail_out "no Debian kernel '${kver:-}' in /boot and /lib/modules (apt-get install linux-image-amd64)"
[ -x "$CTNET_BIN/ctnet-netd" ] || fail_out "no build in $CTNET_BIN (make all first)"

tmp=$(mktemp -d /tmp/ctnet-vm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/initrd/{bin,dev,proc,sys,mnt,lib/modules} "$tmp/out"
cp "$bb" "$tmp/initrd/bin/busybox"
ln -s busybox "$tmp/initrd/bin/sh"
cp tests/vm/init "$tmp/initrd/init"
# The modules, each once, in the order modprobe would load them.
for m in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' >"$tmp/modules.list"
n=0
while read -r ko; do
	n=$((n + 1))
	name=$(printf '%02d-%s' "$n" "$(basename "$ko")")
	case "$ko" in
	*.ko) cp "$ko" "$tmp/initrd/lib/modules/$name" ;;
	*.ko.xz) xz -dc "$ko" >"$tmp/initrd/lib/modules/${name%.xz}"; name=${name%.xz} ;;
	*.ko.zst) zstd -qdc "$ko" >"$tmp/initrd/lib/modules/${name%.zst}"; name=${name%.zst} ;;
	*) fail_out "module $ko: unknown format" ;;
	esac
	echo "$name" >>"$tmp/initrd/modules"
done <"$tmp/modules.list"
(cd "$tmp/initrd" && find . | cpio -o -H newc --quiet | gzip -1 >"$tmp/initrd.gz")

cp tests/vm/stage2 "$tmp/out/stage2"
{
	printf 'CTNET_VM_REPO=%q\nCTNET_BIN=%q\nCTNET_VM_TESTS=%q\n' "$REPO" "$CTNET_BIN" "$TESTS"
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS CTNET_TEST_TIMEOUT CTNET_VM_CMD; do
		[ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
	done
} >"$tmp/out/env"

echo "check-vm: booting $kver under TCG (timeout ${TIMEOUT}s), tests: $(echo $TESTS)"
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max \
	-smp "${CTNET_VM_CPUS:-2}" -m "${CTNET_VM_MEM:-2048}" -nic none -no-reboot \
	-display none -monitor none -serial stdio \
	-kernel "/boot/vmlinuz-$kver" -initrd "$tmp/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1 oops=panic clocksource=tsc tsc=reliable mitigations=off ${CTNET_VM_APPEND:-}" \
	-virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$tmp/out,mount_tag=out,security_model=none" \
	</dev/null | sed -u 's/\r$//'
qrc=${PIPESTATUS[0]}
set -e
secs=$(($(date +%s) - start))
[ "$qrc" -eq 124 ] && fail_out "the VM did not finish within ${TIMEOUT}s (qemu killed)"
[ -s "$tmp/out/rc" ] || fail_out "the VM left no result (qemu exit $qrc; console above)"
read -r p f rc <"$tmp/out/rc"
echo "check-vm: $kver, ${secs}s wall time, tests: $(echo $TESTS)"
echo "$p passed, $f failed"
[ "$rc" -eq 0 ]
