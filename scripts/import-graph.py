#!/usr/bin/env python3
"""Which file in src/ imports which, and proof that the imports flow one way.

Reads every .rs file under src/ (tests included), resolves each `crate::`,
`super::` and `self::` path it names, and each `name!` use of a macro defined
in another file, to the file that defines the target module. Prints the graph
and fails (exit 1) on any cycle between files. With --layers, also fails when
a file imports a top-level module listed above its own (the order is top
first).

    scripts/import-graph.py [--src src] [--layers abi,dispatch,...] [--quiet]
    scripts/import-graph.py --self-test   # proves the check fails when it must
"""

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile


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


def inline_modules(text):
    """(start, end, name) of every inline `mod name { ... }` block."""
    spans = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += text[i] == "{"
            depth -= text[i] == "}"
            i += 1
        spans.append((m.start(), i, m.group(1)))
    return spans


def module_at(pos, here, spans):
    """The module at offset `pos` of a file: the file's, plus inline `mod`s around it."""
    return here + tuple(name for start, end, name in spans if start < pos < end)


def absolute(path, here):
    """A path as seen from module `here` -> absolute module path, or None if external."""
    if not path:
        return None
    if path[0] in ("crate", "$crate"):
        return path[1:]
    if path[0] == "self":
        return here + path[1:]
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
        spans = inline_modules(text)
        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            paths += [(m.start(), p) for p in use_paths(m.group(1))]
        for m in re.finditer(r"(?<![\w:])(\$?crate|super|self)((?:::\w+)+)", text):
            paths.append((m.start(), (m.group(1),) + tuple(p for p in m.group(2).split("::") if p)))
        for pos, path in paths:
            target = absolute(path, module_at(pos, mod, spans))
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


def check(src, layers, quiet):
    """Prints the graph (unless quiet) and the problems; True when there are none."""
    files, edges = scan(src)
    if not quiet:
        for mod in sorted(files, key=lambda m: name(m, files, src)):
            targets = sorted(name(t, files, src) for t in edges[mod])
            print(f"{name(mod, files, src)} -> {', '.join(targets) if targets else '(nothing)'}")
    failed = False
    for comp in cycles(edges):
        failed = True
        print("import cycle: " + " <-> ".join(name(m, files, src) for m in comp))
    if layers:
        order = layers.split(",")
        rank = {layer: i for i, layer in enumerate(order)}
        for mod, targets in edges.items():
            if not mod:
                continue
            if mod[0] not in rank:
                failed = True
                print(f"layer: {name(mod, files, src)} is in no layer of --layers")
                continue
            for t in targets:
                if t and t[0] in rank and rank[t[0]] < rank[mod[0]]:
                    failed = True
                    print(f"layer: {name(mod, files, src)} ({mod[0]}) imports "
                          f"{name(t, files, src)} ({t[0]}), a layer above it")
    n_edges = sum(len(t) for t in edges.values())
    print(f"import-graph: {len(files)} files, {n_edges} imports, "
          + ("FAILED" if failed else "no cycle" + (", layers in order" if layers else "")))
    return not failed


SELF_TEST = {
    # top/a.rs and top/b.rs import each other through a group, `super` and a
    # macro; low.rs imports top (a layer above); tests' `use super::*` and a
    # path inside a comment or string are not edges.
    "lib.rs": "mod top;\nmod low;\n",
    "top/mod.rs": "pub(crate) mod a;\npub(crate) mod b;\n",
    "top/a.rs": "use super::b::{self, B};\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    "top/b.rs": "macro_rules! m { () => {} }\npub struct B;\n",
    "low.rs": "// crate::top::a\nfn f() { let _ = \"crate::top::b\"; m!(); }\n",
}


def self_test():
    with tempfile.TemporaryDirectory() as src, contextlib.redirect_stdout(io.StringIO()):
        for path, text in SELF_TEST.items():
            os.makedirs(os.path.dirname(os.path.join(src, path)), exist_ok=True)
            with open(os.path.join(src, path), "w") as f:
                f.write(text)
        files, edges = scan(src)
        assert edges[("top", "a")] == {("top", "b")}, edges
        assert edges[("low",)] == {("top", "b")}, edges  # the macro only
        assert not cycles(edges) and check(src, None, True)
        assert check(src, "low,top", True), "a correct order failed"
        assert not check(src, "top,low", True), "a layer violation passed"
        with open(os.path.join(src, "top/b.rs"), "a") as f:
            f.write("use crate::top::a;\n")
        assert cycles(scan(src)[1]) and not check(src, None, True), "a cycle passed"
    print("import-graph: self-test ok (a cycle and a layer violation are caught)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"))
    ap.add_argument("--layers", help="top-level modules, top first (comma-separated)")
    ap.add_argument("--quiet", action="store_true", help="print only problems and a summary")
    ap.add_argument("--self-test", action="store_true", help="check the checker on a made-up tree")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    return 0 if check(args.src, args.layers, args.quiet) else 1


if __name__ == "__main__":
    sys.exit(main())
