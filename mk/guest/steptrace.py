#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Single-step whole calls of one kernel function in a guest that QEMU's
gdbstub serves, and write the address of every instruction each call
executed, and how many instructions in a row it ran with interrupts
disabled at most. Speaks the GDB remote protocol itself: a step and a
register read are two packets, several times faster than gdb's stepi.

Environment: STEP_ARCH (x86_64 or arm64), STEP_PORT (gdbstub TCP port),
STEP_OUT (the output file). Either STEP_ADDR (hex address of the
function's first instruction), STEP_SAMPLES (calls to trace), STEP_SKIP
(calls to let by before each traced one): per call, a line "sample N COUNT
IRQSOFF" and a line of its instructions' hex addresses. Or STEP_LOCK (hex
address of the function that takes a spinlock and disables interrupts,
_raw_spin_lock_irqsave) and STEP_CALLERS ("NAME:START:END,...", hex): each
time a caller in those ranges takes such a lock with interrupts on, step
from there to the first instruction that runs with them on again, and
write a line "section CALLER COUNT FLUSHED" (FLUSHED: whether STEP_AFTER,
the driver's invalidation submit, ran in it), until STEP_FLUSHES sections
that flushed were seen or STEP_BUDGET seconds have passed.

While the guest is stepped it stands still and its timers fall due: the
first calls after it resumes find what a timer flushed (a batch, a flush
queue) and start anew. Letting STEP_SKIP calls by first makes the traced
call one of a steady stream, like nearly every call of a benchmark run.

A call runs from the function's entry to the instruction its return
address points at; QEMU's gdbstub steps with interrupts and timers masked,
so the trace holds the call's own instructions only. Interrupts masked by
the stub are not the guest's: the guest's own state is read at every step
(x86 EFLAGS.IF, arm64 PSTATE.I), and IRQSOFF counts the instructions of
the longest run executed with it disabled, exactly."""

import os
import socket
import sys
import time

MAX_STEPS = 200000

# Registers in the 'g' packet: index of 8-byte slots; flags are 4 bytes.
# x86_64: rax..r15, rip, eflags; arm64: x0..x30, sp, pc, cpsr.
LAYOUT = {
    "x86_64": {"pc": 16, "flags": 17, "off": lambda f: not f & 0x200},
    "arm64": {"pc": 32, "flags": 33, "off": lambda f: bool(f & 0x80)},
}


class Stub:
    """A minimal client of QEMU's gdbstub."""

    def __init__(self, port, arch):
        self.sock = socket.create_connection(("127.0.0.1", port), 120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(600)
        self.buf = b""
        self.lay = LAYOUT[arch]
        self.arch = arch
        self.bps = set()
        self.regs = None

    def _read(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("gdbstub closed the connection")
        self.buf += d

    def packet(self):
        """The next packet, acknowledged."""
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i + 1) if i >= 0 else -1
            if j >= 0 and len(self.buf) >= j + 3:
                pkt = self.buf[i + 1:j].decode()
                self.buf = self.buf[j + 3:]
                self.sock.sendall(b"+")
                return pkt
            self._read()

    def send(self, p):
        raw = p.encode()
        self.sock.sendall(b"$%s#%02x" % (raw, sum(raw) & 0xff))
        while True:
            if not self.buf:
                self._read()
                continue
            c = self.buf[:1]
            if c == b"+":
                self.buf = self.buf[1:]
                return
            if c == b"-":
                raise IOError("gdbstub refused packet %r" % p)
            if c == b"$":
                return
            self.buf = self.buf[1:]

    def cmd(self, p):
        self.send(p)
        return self.packet()

    def stop_reply(self):
        r = self.packet()
        while r.startswith("O"):
            r = self.packet()
        if r[:1] in ("W", "X"):
            raise EOFError("guest ended: " + r)
        self.regs = None
        return r

    def interrupt(self):
        self.sock.sendall(b"\x03")
        return self.stop_reply()

    def reg(self, n, size=8):
        if self.regs is None:
            self.regs = self.cmd("g")
        h = self.regs[n * 16:n * 16 + 2 * size]
        return int.from_bytes(bytes.fromhex(h), "little")

    def pc(self):
        return self.reg(self.lay["pc"])

    def irqs_off(self):
        return self.lay["off"](self.reg(self.lay["flags"], 4))

    def return_address(self):
        """Where the call returns to, read at its first instruction: the
        link register on arm64, the top of the stack on x86."""
        if self.arch == "arm64":
            return self.reg(30)
        m = self.cmd("m%x,8" % self.reg(7))
        return int.from_bytes(bytes.fromhex(m), "little")

    def step(self):
        self.send("s")
        self.stop_reply()

    def bp(self, addr, on):
        r = self.cmd("%s1,%x,1" % ("Z" if on else "z", addr))
        if r != "OK":
            raise IOError("breakpoint at %x: %r" % (addr, r))
        (self.bps.add if on else self.bps.discard)(addr)

    def cont(self):
        """Resume; return the address of the breakpoint hit. A stop on a
        breakpoint is left by stepping over it without it first."""
        here = self.pc()
        if here in self.bps:
            self.bp(here, False)
            self.step()
            self.bp(here, True)
        self.send("c")
        self.stop_reply()
        return self.pc()

    def clear(self):
        for a in list(self.bps):
            self.bp(a, False)


def stop_at(st, addr, ignore=0):
    """Run the guest to the (ignore + 1)th execution of @addr."""
    st.bp(addr, True)
    for _ in range(ignore + 1):
        st.cont()
    st.clear()


def step_call(st, addr):
    """Single-step the call that stands at its first instruction; returns
    its addresses and its longest run of instructions with IRQs off."""
    ret = st.return_address()
    pcs = [addr]
    run = longest = 1 if st.irqs_off() else 0
    while len(pcs) < MAX_STEPS:
        st.step()
        p = st.pc()
        if p == ret:
            break
        pcs.append(p)
        run = run + 1 if st.irqs_off() else 0
        longest = max(longest, run)
    return pcs, longest


def trace(st, addr, samples, skip, path):
    with open(path, "w") as out:
        for n in range(samples):
            stop_at(st, addr, skip)
            pcs, longest = step_call(st, addr)
            out.write("sample %d %d %d\n" % (n, len(pcs), longest))
            out.write(" ".join("%x" % p for p in pcs) + "\n")
            out.flush()


def irqsoff_section(st, after):
    """Step from the entry of the lock function, interrupts on, to the
    first instruction that runs with them on again; returns the count of
    instructions run with them off and whether @after was one of them."""
    n = 0
    flushed = False
    for _ in range(64):
        st.step()
        if st.irqs_off():
            break
    while n < MAX_STEPS:
        if not st.irqs_off():
            break
        n += 1
        flushed = flushed or st.pc() == after
        st.step()
    return n, flushed


def sections(st, lock, callers, after, flushes, budget, path):
    """Every IRQs-off section that a lock taken by @callers opens, until
    @flushes of them ran @after or @budget seconds passed."""
    start = time.time()
    seen = 0
    st.bp(lock, True)
    with open(path, "w") as out:
        while seen < flushes and time.time() - start < budget:
            st.cont()
            if st.irqs_off():
                continue
            ret = st.return_address()
            who = [c[0] for c in callers if c[1] <= ret < c[2]]
            if not who:
                continue
            st.clear()
            n, flushed = irqsoff_section(st, after)
            st.bp(lock, True)
            seen += flushed
            out.write("section %s %d %d\n" % (who[0], n, int(flushed)))
            out.flush()
    st.clear()
    print("steptrace: %d sections that flushed in %.0f s" %
          (seen, time.time() - start))


def main():
    env = os.environ
    st = Stub(int(env["STEP_PORT"]), env.get("STEP_ARCH", "x86_64"))
    st.interrupt()
    if env.get("STEP_LOCK"):
        callers = [(c.split(":")[0], int(c.split(":")[1], 16),
                    int(c.split(":")[2], 16))
                   for c in env["STEP_CALLERS"].split(",")]
        sections(st, int(env["STEP_LOCK"], 16), callers,
                 int(env["STEP_AFTER"], 16), int(env.get("STEP_FLUSHES", "3")),
                 float(env.get("STEP_BUDGET", "240")), env["STEP_OUT"])
        st.cmd("D")
        return 0
    trace(st, int(env["STEP_ADDR"], 16), int(env.get("STEP_SAMPLES", "6")),
          int(env.get("STEP_SKIP", "300")), env["STEP_OUT"])
    st.cmd("D")
    return 0


if __name__ == "__main__":
    sys.exit(main())
