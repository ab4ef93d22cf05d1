#!/usr/bin/env python3
"""The C ABI's request path runs its common case outside the panic guard, so that
code must contain no panic site. A panic in Rust is a call (to the panic
machinery), so this reads the compiled functions of that case from the release
liblb.so and fails on any call: everything they reach must be a tail jump (to the
guarded full path). That includes the C library's thread-local lookup
(`__tls_get_addr`): the per-thread slot is reached with the initial-exec model
(src/sync/thread_slot.rs), so a call to it here means that path was lost.

    python3 tests/fast-path.py [path/to/liblb.so]
"""
import re
import subprocess
import sys

LIB = sys.argv[1] if len(sys.argv) > 1 else "target/release/liblb.so"
# The functions of the unguarded common case (select_as is one per strategy).
FAST = re.compile(
    r"^(lb_select|lb_select_key|lb_report|lb::ffi::request::select_as(<.*>)?|lb::ffi::request::report_success)$"
)
ALLOWED_CALLS = ()

dis = subprocess.run(
    ["objdump", "-d", "--no-show-raw-insn", "-C", LIB],
    capture_output=True, text=True, check=True,
).stdout
# objdump prints a call through the GOT as an address; map GOT slots to functions.
relocs = subprocess.run(["readelf", "-rW", LIB], capture_output=True, text=True, check=True).stdout
symbols = {}
for line in subprocess.run(["nm", "-C", LIB], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[0]:
        symbols[int(parts[0], 16)] = parts[2]
got = {}
for line in relocs.splitlines():
    m = re.match(r"^([0-9a-f]+)\s+\S+\s+R_X86_64_(RELATIVE|GLOB_DAT|JUMP_SLOT)\s+(\S+)(?:\s+(\S+))?", line)
    if not m:
        continue
    slot = int(m.group(1), 16)
    if m.group(2) == "RELATIVE":
        target = int(m.group(3), 16)
        got[slot] = symbols.get(target, hex(target))
    else:
        got[slot] = m.group(4) or m.group(3)

functions = {}
name = None
for line in dis.splitlines():
    m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
    if m:
        name = m.group(1)
        functions.setdefault(name, [])
        continue
    if name is not None and line.strip():
        functions[name].append(line)

checked = 0
problems = []
for fn, lines in functions.items():
    if not FAST.match(fn):
        continue
    checked += 1
    for line in lines:
        if "\tcall" not in line and " call " not in line:
            continue
        m = re.search(r"<([^>+]+)(\+0x[0-9a-f]+)?>", line)
        target = m.group(1) if m else None
        g = re.search(r"# ([0-9a-f]+) <", line)
        if g:
            target = got.get(int(g.group(1), 16), target)
        if target and any(a in target for a in ALLOWED_CALLS):
            continue
        problems.append(f"{fn}: {line.strip()}  -> {target}")

if checked < 3:
    print(f"fast-path: expected lb_select, lb_report and the functions they jump to in {LIB}; found {checked}")
    sys.exit(1)
if problems:
    print("fast-path: calls in the unguarded common case of the request path:")
    for p in problems:
        print("  " + p)
    sys.exit(1)
print(f"fast-path: {checked} functions of the unguarded request path make no call")
