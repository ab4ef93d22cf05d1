#!/usr/bin/env python3
"""Fails when the modules of src/ import each other in a cycle, or when a module
imports one from a layer above its own.

A module is a file of src/ (src/strategy/mod.rs is `strategy`, src/ffi/types.rs is
`ffi::types`). An edge A -> B is any `crate::B...` path in A's code (use lines
and paths in expressions; comments are ignored). Edges from a module to its own
children or parent (`strategy` -> `strategy::round_robin`) count too: only the
file's own code is read, so a parent that merely declares `mod child;` has no
edge to it. The layers, bottom to top, are LAYERS below; a module belongs to the
layer of its longest listed prefix, and may import its own layer and those below.
Prints the cycles and upward imports and exits 1, or prints a summary and 0.

  tests/import-cycles.py [SRC_DIR]
"""
import re
import sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src")
modules = {}
for f in sorted(src.rglob("*.rs")):
    rel = f.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    modules["::".join(parts) or "crate"] = f


def code_of(path):
    text = path.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def resolve(path):
    """The longest module name that `path` (a::b::c) starts with."""
    parts = path.split("::")
    for k in range(len(parts), 0, -1):
        name = "::".join(parts[:k])
        if name in modules:
            return name
    return None


edges = {m: set() for m in modules}
for m, f in modules.items():
    code = code_of(f)
    targets = set()
    # `crate::a::b::{c, d}` and `crate::a::b::c` alike: the module prefix is enough.
    for hit in re.finditer(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code):
        t = resolve(hit.group(1))
        if t and t != m:
            targets.add(t)
    # `use super::x` inside a child module.
    for hit in re.finditer(r"\bsuper::([a-z_][a-z0-9_]*)", code):
        parent = m.rsplit("::", 1)[0] if "::" in m else "crate"
        t = resolve(f"{parent}::{hit.group(1)}") if parent != "crate" else resolve(hit.group(1))
        if t and t != m:
            targets.add(t)
        elif parent != "crate" and parent != m:
            targets.add(parent)
    edges[m] = targets

# Tarjan's strongly connected components.
index, low, stack, on, sccs = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))


sys.setrecursionlimit(10000)
for v in modules:
    if v not in index:
        visit(v)

# Bottom to top; each entry lists the modules (and their children) of one layer.
LAYERS = [
    ["sync", "clock", "types", "error", "config", "options", "hash"],
    ["instance"],
    ["member"],
    ["health", "load", "slow_start"],
    ["strategy"],
    ["snapshot"],
    ["local"],
    ["balancer"],
    ["ffi"],
    ["crate"],
]


def layer_of(m):
    best, level = -1, None
    for k, names in enumerate(LAYERS):
        for n in names:
            if (m == n or m.startswith(n + "::")) and len(n) > best:
                best, level = len(n), k
    return level


failed = False
unplaced = [m for m in modules if layer_of(m) is None]
if unplaced:
    print("modules in no layer (add them to LAYERS): " + ", ".join(sorted(unplaced)))
    failed = True
for a in sorted(edges):
    for b in sorted(edges[a]):
        la, lb = layer_of(a), layer_of(b)
        if la is not None and lb is not None and lb > la:
            print(f"upward import: {a} (layer {la}) -> {b} (layer {lb})")
            failed = True
for comp in sccs:
    inner = [f"{a} -> {b}" for a in comp for b in sorted(edges[a]) if b in comp]
    print("import cycle among " + ", ".join(comp) + ": " + "; ".join(inner))
    failed = True
if failed:
    sys.exit(1)
print(
    f"no import cycle and no upward import among the {len(modules)} modules of {src} "
    f"({len(LAYERS)} layers)"
)
