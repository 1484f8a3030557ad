#!/usr/bin/env python3
"""Which file in src/ imports which, and proof that the imports flow one way.

Reads every .rs file under src/ (tests included), resolves each `crate::`,
`super::` and `self::` path it names, and each `name!` use of a macro defined
in another file, to the file that defines the target module. Prints the graph
and fails (exit 1) on any cycle between files. With --layers, also fails when
a file imports a top-level module listed above its own (the order is top
first).

    scripts/import-graph.py [--src src] [--layers abi,dispatch,...] [--quiet]
"""

import argparse
import os
import re
import sys


def module_of(path, src):
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel == ["lib"]:
        return ()
    if rel[-1] == "mod":
        rel = rel[:-1]
    return tuple(rel)


def strip(text):
    """Drops comments, string and char literals (paths inside them are not imports)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i : i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i : i + 4])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def use_paths(tree, prefix=()):
    """Expands a `use` tree (`a::{b, c::{self, D}}`) into full paths."""
    tree = tree.strip()
    if not tree:
        return []
    if "{" not in tree:
        tree = re.sub(r"\s+as\s+\w+$", "", tree)
        parts = [p for p in tree.split("::") if p]
        if parts == ["self"]:
            return [prefix]
        return [prefix + tuple(parts)]
    head, _, rest = tree.partition("{")
    head_parts = tuple(p for p in head.strip().rstrip(":").split("::") if p)
    body = rest[: rest.rfind("}")]
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    paths = []
    for item in items:
        paths += use_paths(item, prefix + head_parts)
    return paths


def absolute(path, here, is_mod_file):
    """A path as seen from module `here` -> absolute module path, or None if external."""
    if not path:
        return None
    parent = here if is_mod_file else here[:-1]
    if path[0] in ("crate", "$crate"):
        return path[1:]
    if path[0] == "self":
        return (here if True else parent) + path[1:]
    if path[0] == "super":
        base = here
        while path and path[0] == "super":
            base = base[:-1]
            path = path[1:]
        return base + path
    return None


def resolve(path, modules):
    """Longest prefix of `path` that is a module with a file."""
    for k in range(len(path), -1, -1):
        if path[:k] in modules:
            return path[:k]
    return None


def scan(src):
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                full = os.path.join(root, name)
                files[module_of(full, src)] = (full, strip(open(full).read()))
    macros = {}
    for mod, (_, text) in files.items():
        for m in re.finditer(r"macro_rules!\s*(\w+)", text):
            macros[m.group(1)] = mod
    edges = {mod: set() for mod in files}
    for mod, (full, text) in files.items():
        is_mod_file = full.endswith(("mod.rs", "lib.rs"))
        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            paths += use_paths(m.group(1))
        for m in re.finditer(r"(?<![\w:])(\$?crate|super|self)((?:::\w+)+)", text):
            paths.append((m.group(1),) + tuple(p for p in m.group(2).split("::") if p))
        for path in paths:
            target = absolute(path, mod, is_mod_file)
            if target is None:
                continue
            target = resolve(target, files)
            if target is not None and target != mod and target != ():
                edges[mod].add(target)
        for m in re.finditer(r"(?<![\w:])(\w+)!", text):
            owner = macros.get(m.group(1))
            if owner is not None and owner != mod and owner != ():
                edges[mod].add(owner)
    return files, edges


def cycles(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def name(mod, files, src):
    return os.path.relpath(files[mod][0], src)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"))
    ap.add_argument("--layers", help="top-level modules, top first (comma-separated)")
    ap.add_argument("--quiet", action="store_true", help="print only problems and a summary")
    args = ap.parse_args()
    files, edges = scan(args.src)
    if not args.quiet:
        for mod in sorted(files, key=lambda m: name(m, files, args.src)):
            targets = sorted(name(t, files, args.src) for t in edges[mod])
            print(f"{name(mod, files, args.src)} -> {', '.join(targets) if targets else '(nothing)'}")
    failed = False
    for comp in cycles(edges):
        failed = True
        print("import cycle: " + " <-> ".join(name(m, files, args.src) for m in comp))
    if args.layers:
        order = args.layers.split(",")
        rank = {layer: i for i, layer in enumerate(order)}
        for mod, targets in edges.items():
            if not mod:
                continue
            if mod[0] not in rank:
                failed = True
                print(f"layer: {name(mod, files, args.src)} is in no layer of --layers")
                continue
            for t in targets:
                if t and t[0] in rank and rank[t[0]] < rank[mod[0]]:
                    failed = True
                    print(f"layer: {name(mod, files, args.src)} ({mod[0]}) imports "
                          f"{name(t, files, args.src)} ({t[0]}), a layer above it")
    n_edges = sum(len(t) for t in edges.values())
    print(f"import-graph: {len(files)} files, {n_edges} imports, "
          + ("FAILED" if failed else "no cycle" + (", layers in order" if args.layers else "")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
