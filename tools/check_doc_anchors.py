#!/usr/bin/env python3
"""Checks that the docs point at code that exists (run by ctest as `doc_anchors`).

1. Every anchor `file.hpp: name` (also `.h`, `.cpp`; several names separated by commas;
   `Class::member` checks both parts) in README.md and docs/*.md names something DEFINED in
   that file: a struct/class/enum/using/namespace of that name, or a function or variable
   declared with it (not merely called or mentioned in a comment).
2. Every repository path cited in README.md, docs/*.md and in the comments of the headers,
   tests, tools, examples and benchmarks (`tests/x.cpp`, `tools/y.py`, `ops/scalar.hpp`,
   `docs/model.md`, ...) exists.

Usage: tools/check_doc_anchors.py [REPO_ROOT]   exit 0 = all good, 1 = a list of problems.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
HEADERS = ROOT / "include" / "t5gemma2"
SEARCH_DIRS = ["include/t5gemma2", "include", "tests", "tools", "examples", "benchmarks", "docs", "cmake", ""]
TOP_DIRS = ("include/", "tests/", "tools/", "examples/", "benchmarks/", "docs/", "cmake/", "models/", ".ci/")
# files of other projects that comments cite by name (Highway, stb)
EXTERNAL = {"foreach_target.h", "stb_image.h", "stb_image_write.h", "highway.h"}
KEYWORDS = {"return", "else", "throw", "new", "case", "co_return", "delete", "sizeof", "decltype", "if", "while", "for",
            "switch", "and", "or", "not"}

ANCHOR = re.compile(r"`([A-Za-z0-9_./-]+\.(?:hpp|h|cpp)): ([^`]+)`")
# a repository path: starts with a top directory, or is a bare header/test name
PATH = re.compile(r"(?<![\w/.-])((?:include|tests|tools|examples|benchmarks|docs|cmake|models|\.ci)/[A-Za-z0-9_./-]*[A-Za-z0-9_]"
                  r"|(?:ops/)?[a-z0-9_]+(?:-inl)?\.(?:hpp|h))(?![\w/-])")


def resolve(rel, near=None):
    """The file a citation means (relative to the repository's usual places, or to `near`), or None."""
    rel = rel.rstrip(".")
    if near is not None and (near / rel).exists():
        return near / rel
    for d in SEARCH_DIRS:
        p = ROOT / d / rel
        if p.exists():
            return p
    return None


def strip_comments(code):
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    return re.sub(r"//[^\n]*", " ", code)


def defines(code, name):
    n = re.escape(name)
    if re.search(r"\b(?:struct|class|enum(?:\s+class)?|using|namespace)\s+" + n + r"\b", code):
        return True
    if re.search(r"#define\s+" + n + r"\b", code):
        return True
    # a declaration: a type-ish token, whitespace, the name, then ( or = or { or ;
    for m in re.finditer(r"([\w>&*\]]+)\s+[*&]?" + n + r"\s*(?:\(|=|\{|;|\[)", code):
        if m.group(1) not in KEYWORDS:
            return True
    # operator-less constructors / members inside a class: `Name(` after `explicit` or at line start
    if re.search(r"(?m)^\s*(?:explicit\s+)?" + n + r"\s*\(", code):
        return True
    return False


def check_anchors(problems):
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for m in ANCHOR.finditer(text):
            file, names = m.group(1), m.group(2)
            where = f"{doc.relative_to(ROOT)}: `{file}: {names}`"
            path = resolve(file)
            if path is None:
                problems.append(f"{where}: no file {file}")
                continue
            code = strip_comments(path.read_text(encoding="utf-8"))
            for name in [x.strip() for x in names.split(",")]:
                name = re.sub(r"<[^>]*>", "", name).replace("()", "").strip()
                for part in [p for p in name.split("::") if p]:
                    if not re.fullmatch(r"~?[A-Za-z_]\w*", part):
                        problems.append(f"{where}: '{part}' is not a name")
                    elif not defines(code, part):
                        problems.append(f"{where}: {file} defines no '{part}'")


def comment_text(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix in (".md",):
        return text
    if path.suffix in (".py", ".sh", ".cmake") or path.name in ("CMakeLists.txt", "run"):
        return "\n".join(l.split("#", 1)[1] for l in text.splitlines() if "#" in l)
    return "\n".join(re.findall(r"//[^\n]*|/\*.*?\*/", text, flags=re.S))


def check_paths(problems):
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for d in ("include", "tests", "tools", "examples", "benchmarks"):
        files += [p for p in sorted((ROOT / d).rglob("*")) if p.is_file() and p.suffix in (".hpp", ".h", ".cpp", ".py", ".sh")
                  and "data" not in p.relative_to(ROOT).parts]
    for f in files:
        text = comment_text(f)
        for m in PATH.finditer(text):
            rel = m.group(1)
            following = text[m.end():m.end() + 1]
            if rel.endswith("/") or ".." in rel or following in ("{", "*", "<") or rel in EXTERNAL:
                continue  # a directory, a pattern, or another project's file
            if resolve(rel, f.parent) is None and not rel.startswith("build"):
                problems.append(f"{f.relative_to(ROOT)}: cites '{rel}', which does not exist")


def main():
    problems = []
    check_anchors(problems)
    check_paths(problems)
    for p in sorted(set(problems)):
        print(p)
    anchors = sum(len(ANCHOR.findall(p.read_text(encoding="utf-8"))) for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    print(f"check_doc_anchors: {anchors} anchors, {len(set(problems))} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
