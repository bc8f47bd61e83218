#!/usr/bin/env bash
# The Debian package: `dpkg-buildpackage -us -uc -b` on a copy of the source tree (as a fresh
# clone has it) builds ctnet_*.deb; `dpkg -c` shows the programs in /usr/sbin, ctnet-cni in
# /usr/lib/cni, man pages, completion and the shipped units; the programs link the shared
# libraries; lintian reports no error or warning; the build leaves nothing that git status
# shows; the packaged units pass systemd-analyze verify against the packaged programs; the
# packaged ctnet-cni with stateDir/runDir and no environment ADDs and DELs leaving nothing
# (test_cni_dirs.sh run against it).
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)

for p in dpkg-buildpackage dh git; do
	command -v $p >/dev/null || { echo "SKIP: $p not installed (tools/deps.sh installs it)"; exit 77; }
done
SRC=$T_TMP/pkg/ctnet
mkdir -p "$SRC"
# The files a clone has, plus new ones not yet committed (none of the ignored build output).
(cd "$REPO" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) | tar -xf - -C "$SRC"
git -C "$SRC" init -q && git -C "$SRC" add -A &&
	git -C "$SRC" -c user.name=t -c user.email=t@t commit -qm snapshot
(cd "$SRC" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=2" dpkg-buildpackage -us -uc -b) >"$T_TMP/build.log" 2>&1
rc=$?
check_eq "dpkg-buildpackage -us -uc -b exits 0" "$rc" "0"
[ "$rc" -eq 0 ] || tail -20 "$T_TMP/build.log"
DEB=$(ls "$T_TMP"/pkg/ctnet_*.deb 2>/dev/null)
check_match "it built ctnet_VERSION_ARCH.deb" "${DEB##*/}" '^ctnet_[0-9][^_]*_[a-z0-9]+\.deb$'
check_eq "the build leaves nothing that git status shows" "$(git -C "$SRC" status --porcelain)" ""

dpkg -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$' | sort >"$T_TMP/files"
want="/lib/systemd/system/ctnet-apply.service
/lib/systemd/system/ctnet-dns.service
/lib/systemd/system/ctnet-gc.service
/lib/systemd/system/ctnet-gc.timer
/lib/systemd/system/ctnet-restore.service
/lib/systemd/system/ctnet-watch.service
/lib/systemd/system/ctnet@.service
/usr/lib/cni/ctnet-cni
/usr/sbin/ctnet
/usr/sbin/ctnet-ipam
/usr/sbin/ctnet-nat
/usr/sbin/ctnet-netd
/usr/share/bash-completion/completions/ctnet
/usr/share/bash-completion/completions/ctnet-ipam
/usr/share/bash-completion/completions/ctnet-nat
/usr/share/bash-completion/completions/ctnet-netd
/usr/share/doc/ctnet/changelog.gz
/usr/share/doc/ctnet/copyright
/usr/share/doc/ctnet/examples/bird/README
/usr/share/doc/ctnet/examples/bird/bird.conf.host1
/usr/share/doc/ctnet/examples/bird/ctnet.conf.host1
/usr/share/doc/ctnet/examples/bird/rr/bird.conf.host1
/usr/share/doc/ctnet/examples/bird/rr/bird.conf.reflector
/usr/share/doc/ctnet/examples/cni/10-ctnet.conflist
/usr/share/doc/ctnet/examples/cni/README
/usr/share/doc/ctnet/examples/containerd/config.toml
/usr/share/doc/ctnet/examples/kubernetes/config.toml
/usr/share/doc/ctnet/examples/kubernetes/ctnet-cni.template
/usr/share/doc/ctnet/examples/nspawn/systemd-nspawn@web.service.d/ctnet.conf
/usr/share/doc/ctnet/examples/nspawn/web.conf
/usr/share/doc/ctnet/examples/podman/containers.conf
/usr/share/doc/ctnet/examples/podman/hooks.d/ctnet-down.json
/usr/share/doc/ctnet/examples/podman/hooks.d/ctnet.json
/usr/share/lintian/overrides/ctnet
/usr/share/man/man5/ctnet.conf.5.gz
/usr/share/man/man8/ctnet-bird-config.8.gz
/usr/share/man/man8/ctnet-cni.8.gz
/usr/share/man/man8/ctnet-ipam.8.gz
/usr/share/man/man8/ctnet-nat.8.gz
/usr/share/man/man8/ctnet-netd.8.gz
/usr/share/man/man8/ctnet.8.gz"
check_eq "dpkg -c: programs, ctnet-cni in /usr/lib/cni, man pages, completion, units, examples" "$(cat "$T_TMP/files")" "$want"
check_eq "dpkg -c: every program is mode 0755 root/root" \
	"$(dpkg -c "$DEB" | awk '$6 ~ /sbin\/.|cni\/ctnet/ {print $1, $2}' | sort -u)" "-rwxr-xr-x root/root"
check_match "Depends: the shared libraries and libnftables1 (dlopen)" \
	"$(dpkg-deb -f "$DEB" Depends)" 'libjansson4.*libnl-3-200.*libnl-route-3-200.*libnftables1'

ROOT=$T_TMP/root
dpkg-deb -x "$DEB" "$ROOT"
check "the packaged examples are the source's, byte for byte (their paths are the package's)" \
	diff -r "$REPO/examples" "$ROOT/usr/share/doc/ctnet/examples"
dpkg-deb -e "$DEB" "$T_TMP/control"
# debhelper's postinst: units given --no-enable are enabled only when already installed (its
# "debian-installed" guard); the others are enabled on install; started ones are invoked.
check_eq "postinst: ctnet-apply, ctnet-dns and ctnet-watch wait for the admin to enable them" \
	"$(grep -oE "debian-installed '[^']+'" "$T_TMP/control/postinst" | sort -u | tr '\n' ' ')" \
	"debian-installed 'ctnet-apply.service' debian-installed 'ctnet-dns.service' debian-installed 'ctnet-watch.service' "
check_eq "postinst: ctnet-gc.timer and ctnet-restore.service are enabled on install" \
	"$(grep -oE "deb-systemd-helper enable '(ctnet-gc.timer|ctnet-restore.service)'" "$T_TMP/control/postinst" | sort -u | tr '\n' ' ')" \
	"deb-systemd-helper enable 'ctnet-gc.timer' deb-systemd-helper enable 'ctnet-restore.service' "
check_eq "postinst: ctnet-gc.timer is the only unit started" \
	"$(grep -oE "deb-systemd-invoke [^ ]+ '[^']+'" "$T_TMP/control/postinst" | sort -u | tr '\n' ' ')" \
	"deb-systemd-invoke \$_dh_action 'ctnet-gc.timer' "
check_eq "STATIC_LIBS=0: ctnet links libnl-3, libnl-route-3, libcap, jansson as shared libraries" \
	"$(readelf -d "$ROOT/usr/sbin/ctnet" | sed -n 's/.*Shared library: \[\(lib\(nl-3\|nl-route-3\|cap\|jansson\)\)\..*/\1/p' | sort | tr '\n' ' ')" \
	"libcap libjansson libnl-3 libnl-route-3 "
check_eq "packaged ctnet --version runs" "$("$ROOT/usr/sbin/ctnet" --version >/dev/null 2>&1; echo $?)" "0"

if command -v lintian >/dev/null; then
	lintian --allow-root "$T_TMP"/pkg/ctnet_*.changes >"$T_TMP/lintian" 2>&1
	check_eq "lintian: no errors or warnings" "$(grep -E '^(E|W):' "$T_TMP/lintian")" ""
else
	fail "lintian not installed (tools/deps.sh installs it)"
fi

if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T_TMP/units" "$T_TMP/man/man8"
	for m in "$ROOT"/usr/share/man/man8/*.gz; do gzip -dc "$m" >"$T_TMP/man/man8/$(basename "$m" .gz)"; done
	for u in "$ROOT"/lib/systemd/system/*; do
		sed "s|/usr/sbin/|$ROOT/usr/sbin/|g" "$u" >"$T_TMP/units/${u##*/}"
		check "packaged ${u##*/} passes systemd-analyze verify" \
			env MANPATH="$T_TMP/man" systemd-analyze verify "$T_TMP/units/${u##*/}"
	done
fi

# The packaged plugin and programs, with no CTNET_* variables (stateDir/runDir in the config).
out=$(CTNET_BIN=$ROOT/usr/sbin CTNET_CNI_PLUGIN=$ROOT/usr/lib/cni/ctnet-cni \
	bash "$REPO/tests/netns/test_cni_dirs.sh" 2>&1)
rc=$?
echo "$out" | grep -E '^(PASS|FAIL) ' | sed -E 's/^(PASS|FAIL) /\1 packaged ctnet-cni: /' >"$T_TMP/sub"
while IFS= read -r line; do
	case $line in PASS*) pass "${line#PASS }" ;; FAIL*) fail "${line#FAIL }" ;; esac
done <"$T_TMP/sub"
check_eq "packaged ctnet-cni scenario exits 0" "$rc" "0"
finish
