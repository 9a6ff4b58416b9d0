#!/usr/bin/env python3
"""Time from the workload's death to the shim's exit, from the kernel's own clock.

Usage: exit_latency.py INIT_PID SHIM_PID [READY_FILE]
Subscribes to the process-events connector (root), touches READY_FILE, then waits for the exit
events of both pids and prints the shim's exit minus the workload's (the CT's pid 1) exit in
microseconds. Each event carries the kernel's monotonic timestamp of the exit, so neither this
script's scheduling nor the shell's matters.
"""
import os
import socket
import struct
import sys

NETLINK_CONNECTOR, CN_IDX_PROC, PROC_EVENT_EXIT = 11, 1, 0x80000000


def main():
    init_pid, shim_pid = int(sys.argv[1]), int(sys.argv[2])
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    s.bind((os.getpid(), CN_IDX_PROC))
    op = struct.pack("I", 1)  # PROC_CN_MCAST_LISTEN
    cn = struct.pack("IIIIHH", CN_IDX_PROC, 1, 0, 0, len(op), 0) + op
    s.send(struct.pack("IHHII", 16 + len(cn), 3, 0, 0, os.getpid()) + cn)
    if len(sys.argv) > 3:
        open(sys.argv[3], "w").close()
    seen = {}
    while len(seen) < 2:
        d = s.recv(4096)
        what, _cpu, ts = struct.unpack_from("IIQ", d, 36)
        if what != PROC_EVENT_EXIT:
            continue
        pid, tgid = struct.unpack_from("II", d, 52)
        if pid == tgid and pid in (init_pid, shim_pid) and pid not in seen:
            seen[pid] = ts
    print((seen[shim_pid] - seen[init_pid]) // 1000)


if __name__ == "__main__":
    main()
