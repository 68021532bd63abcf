# SPDX-License-Identifier: GPL-2.0
"""gdb script (gdb -batch -x): single-step whole calls of one kernel
function in a guest that QEMU's gdbstub serves, and write the address of
every instruction each call executed.

Environment: STEP_ADDR (hex address of the function's first instruction),
STEP_PORT (gdbstub TCP port), STEP_SAMPLES (calls to trace), STEP_SKIP
(calls to let by before each traced one), STEP_OUT (file: per call, a line
"sample N COUNT" and a line of hex addresses).

While gdb steps, the guest stands still and its timers fall due: the
first calls after it resumes find what a timer flushed (a batch, a flush
queue) and start anew. Letting STEP_SKIP calls by first makes the traced
call one of a steady stream, like nearly every call of a benchmark run.

A call runs from the function's entry to the instruction its return
address points at; QEMU's gdbstub steps with interrupts and timers masked,
so the trace holds the call's own instructions only."""

import os

import gdb  # pylint: disable=import-error

MAX_STEPS = 200000


def return_address():
    """Where the call returns to, read at its first instruction: the link
    register on arm64, the top of the stack on x86."""
    arch = gdb.selected_frame().architecture().name()
    if "aarch64" in arch:
        return int(gdb.parse_and_eval("$x30"))
    sp = int(gdb.parse_and_eval("$sp"))
    return int(gdb.parse_and_eval("*(unsigned long *)%d" % sp))


def main():
    addr = int(os.environ["STEP_ADDR"], 16)
    samples = int(os.environ.get("STEP_SAMPLES", "6"))
    skip = int(os.environ.get("STEP_SKIP", "300"))
    gdb.execute("set pagination off")
    gdb.execute("set confirm off")
    # A busy TCG guest answers the first packets slowly.
    gdb.execute("set remotetimeout 120")
    gdb.execute("target remote 127.0.0.1:%s" % os.environ["STEP_PORT"])
    with open(os.environ["STEP_OUT"], "w") as out:
        for n in range(samples):
            gdb.execute("hbreak *0x%x" % addr, to_string=True)
            if skip:
                gdb.execute("ignore $bpnum %d" % skip, to_string=True)
            gdb.execute("continue", to_string=True)
            gdb.execute("delete", to_string=True)
            ret = return_address() & ((1 << 64) - 1)
            pcs = [addr]
            while len(pcs) < MAX_STEPS:
                gdb.execute("stepi", to_string=True)
                pc = int(gdb.parse_and_eval("$pc")) & ((1 << 64) - 1)
                if pc == ret:
                    break
                pcs.append(pc)
            out.write("sample %d %d\n" % (n, len(pcs)))
            out.write(" ".join("%x" % p for p in pcs) + "\n")
            out.flush()
    gdb.execute("detach")


main()
