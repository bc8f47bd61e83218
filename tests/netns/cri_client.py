#!/usr/bin/python3
"""A small CRI client (runtime.v1) for tests: the four pod-sandbox calls kubelet makes, over
containerd's gRPC socket. The few messages are encoded by hand (field numbers from kubernetes'
cri-api api.proto), so no generated code and no protoc are needed; python3-grpcio carries them.

  cri_client.py SOCK run NAME NAMESPACE UID CGROUP_PARENT [HOSTPORT:CONTAINERPORT[/udp]]...
  cri_client.py SOCK status ID       -> {"state": "SANDBOX_READY", "ip": "10.233.1.2", ...}
  cri_client.py SOCK stop ID
  cri_client.py SOCK remove ID
  cri_client.py SOCK podcidr CIDR    (UpdateRuntimeConfig: kubelet passing node.spec.podCIDR)
"""
import json
import sys

import grpc

SERVICE = "/runtime.v1.RuntimeService/"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field, n):
    return varint(field << 3) + varint(n) if n else b""


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def parse(buf):
    """{field: [int or bytes, ...]} of one message (varint and length-delimited fields)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(field, []).append(v)
    return out


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def call(chan, method, req):
    return chan.unary_unary(SERVICE + method)(req, timeout=120)


def run(chan, name, namespace, uid, cgroup_parent, ports):
    metadata = f_bytes(1, name) + f_bytes(2, uid) + f_bytes(3, namespace)  # PodSandboxMetadata
    cfg = f_bytes(1, metadata) + f_bytes(2, name)                           # metadata, hostname
    for p in ports:                                                          # port_mappings = 5
        spec, _, proto = p.partition("/")
        host, container = (int(x) for x in spec.split(":"))
        pm = f_varint(1, 1 if proto == "udp" else 0) + f_varint(2, container) + f_varint(3, host)
        cfg += f_bytes(5, pm)
    # linux = 8: cgroup_parent = 1; security_context = 2 { namespace_options = 1 { pid = 2: CONTAINER } }
    linux = f_bytes(1, cgroup_parent) + f_bytes(2, f_bytes(1, f_varint(2, 1)))
    cfg += f_bytes(8, linux)
    resp = parse(call(chan, "RunPodSandbox", f_bytes(1, cfg)))  # RunPodSandboxRequest.config = 1
    print(resp[1][0].decode())


def status(chan, sid):
    resp = parse(call(chan, "PodSandboxStatus", f_bytes(1, sid)))
    st = parse(resp[1][0])                                 # PodSandboxStatusResponse.status = 1
    net = parse(st.get(5, [b""])[0])                       # PodSandboxStatus.network = 5
    meta = parse(st.get(2, [b""])[0])
    state = st.get(3, [0])[0]
    print(json.dumps({
        "id": st[1][0].decode(),
        "name": meta.get(1, [b""])[0].decode(),
        "state": ["SANDBOX_READY", "SANDBOX_NOTREADY"][state],
        "ip": net.get(1, [b""])[0].decode(),
    }))


def main():
    sock, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    with grpc.insecure_channel("unix://" + sock) as chan:
        if cmd == "run":
            run(chan, args[0], args[1], args[2], args[3], args[4:])
        elif cmd == "status":
            status(chan, args[0])
        elif cmd == "stop":
            call(chan, "StopPodSandbox", f_bytes(1, args[0]))
        elif cmd == "remove":
            call(chan, "RemovePodSandbox", f_bytes(1, args[0]))
        elif cmd == "podcidr":
            # runtime_config = 1 { network_config = 1 { pod_cidr = 1 } }
            call(chan, "UpdateRuntimeConfig", f_bytes(1, f_bytes(1, f_bytes(1, args[0]))))
        else:
            sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit("cri_client: %s: %s" % (e.code(), e.details()))
