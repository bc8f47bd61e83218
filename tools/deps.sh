#!/usr/bin/env bash
# Installs the Debian 12 packages ctnet needs to build and test, if any are missing
# (linux-image-amd64 and qemu-system-x86: the kernel make check-vm boots, and what boots it;
# bird2: BIRD 2 for the multi-host tests, each bird in a test namespace of its own).
#   tools/deps.sh          install what is missing (needs root and apt-get)
#   tools/deps.sh --list   print the package names
set -eu
PKGS="build-essential pkg-config libnftables-dev libnl-3-dev libnl-route-3-dev libmnl-dev
libcap-dev libjansson-dev nftables iproute2 conntrack socat python3 iputils-ping procps
util-linux kmod libcap2-bin runc busybox-static containernetworking-plugins iptables time
clang libclang-rt-14-dev libbpf-dev bpftool valgrind iperf3 debhelper lintian systemd systemd-container podman containerd
umoci python3-grpcio strace netavark dnsmasq-base bird2
linux-image-amd64 qemu-system-x86 cpio"
if [ "${1:-}" = "--list" ]; then
	echo $PKGS
	exit 0
fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "ctnet: missing Debian packages:$missing (run tools/deps.sh as root)" >&2
	exit 1
fi
echo "ctnet: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# No service a package brings may start while it installs (bird2's postinst starts bird in
# this root namespace; the tests run their own birds in namespaces of their own): a
# policy-rc.d that denies every start, unless the machine has one, removed afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# tools/deps.sh: no service starts while ctnet installs packages\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
