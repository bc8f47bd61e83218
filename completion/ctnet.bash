# bash completion for ctnet, ctnet-ipam, ctnet-netd and ctnet-nat
_ctnet_containers() {
	local d=${CTNET_RUN_DIR:-/run/ctnet}/containers
	[ -d "$d" ] && ls "$d" 2>/dev/null
}

_ctnet() {
	local cur prev words cword
	_init_completion 2>/dev/null || { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; cword=$COMP_CWORD; words=("${COMP_WORDS[@]}"); }
	local prog=${words[0]##*/} cmds opts
	case $prog in
	ctnet) cmds="up down repair run exec apply status gc doctor trace watch dns bird-config oci-hook"
		opts="--domain --resolv-file --dnsmasq --netns --pid --create-netns --shared --host-address --local-address --host-address6 --local-address6 --ipv6 --bridge --pool --ifname --host-ifname --mac --mtu --forward --delay --jitter --loss --rate --extra-veth --config --json --keep-lease --dry-run --leases --host-only --source --neighbor --router-id --asn --announce --bfd --no-bfd --import-only-cluster --no-import-only-cluster --help" ;;
	ctnet-ipam) cmds="alloc release show list reserve"
		opts="--pool --single --ipv6 --json --host-address --local-address --nixos-conf-dir --help" ;;
	ctnet-netd) cmds="up down show impair extra-veth bridge move macvlan"
		opts="--netns --pid --host-address --local-address --host-address6 --local-address6 --ifname --host-ifname --mac --mtu --bridge --address --mode --delay --jitter --loss --rate --extra-veth --json --help" ;;
	ctnet-nat) cmds="init add del forward list check restore flush"
		opts="--external-interface --address --address6 --iface --forward --host-ip --cgroup --json --help" ;;
	esac
	case $prev in
	--netns) COMPREPLY=($(compgen -f -- "$cur")); [ -d /run/netns ] && COMPREPLY+=($(compgen -W "$(ls /run/netns | sed 's|^|/run/netns/|')" -- "$cur")); return ;;
	--config|--resolv-file|--dnsmasq) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--bridge|--iface|--external-interface) COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
	esac
	if [ "$cword" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
	elif [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "$(_ctnet_containers)" -- "$cur"))
	fi
}
complete -F _ctnet ctnet ctnet-ipam ctnet-netd ctnet-nat
