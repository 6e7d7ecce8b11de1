#!/usr/bin/env python3
"""Every `crema …` command line in the docs names a subcommand and flags the
binary knows (issue 10: every command in the docs runs).

Reads the code blocks (``` fences) of README.md and docs/**/*.md, takes each
line that starts with `crema ` (after an optional `$ `), follows the
subcommands (`crema hls check`, `crema keys create`) through
`crema … --help`, and checks every `--flag` and `-x` against that help
text. Usage lines (`crema encode INPUT... [--json]`) are checked the same
way. Prints what it found and exits 1 naming each unknown subcommand or
flag.

    python3 scripts/check-doc-commands.py target/debug/crema
"""

import pathlib
import re
import shlex
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
HELP: dict[tuple[str, ...], str] = {}


def help_text(exe: str, path: tuple[str, ...]) -> str:
    if path not in HELP:
        r = subprocess.run([exe, *path, "--help"], capture_output=True, text=True, timeout=30)
        HELP[path] = r.stdout if r.returncode == 0 else ""
    return HELP[path]


def subcommands(text: str) -> set[str]:
    out, inside = set(), False
    for line in text.splitlines():
        if line.strip() == "Commands:":
            inside = True
            continue
        if inside:
            m = re.match(r"^  ([a-z][a-z-]*)\s", line)
            if m:
                out.add(m.group(1))
            elif line and not line.startswith(" "):
                inside = False
    return out


def commands(md: pathlib.Path):
    fenced = False
    lines = md.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            text = line.strip().removeprefix("$ ")
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1] + " " + lines[i].strip()
            # `crema` followed by a lowercase word: a command, not a diagram or a version line.
            if re.match(r"^crema [a-z]", text):
                yield i + 1, text.split("#")[0].strip()
        i += 1


def words(cmd: str) -> list[str]:
    try:
        return shlex.split(cmd)
    except ValueError:
        return cmd.split()


def resolve(exe: str, ws: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """The subcommand path the words name (`("hls", "check")`) and the words after it."""
    path: tuple[str, ...] = ()
    rest = ws
    while rest:
        subs = subcommands(help_text(exe, path))
        if not subs or rest[0] not in subs:
            break
        path += (rest[0],)
        rest = rest[1:]
    return path, rest


def check_line(exe: str, cmd: str) -> list[str]:
    """A line, or a usage line of alternatives (`crema keys create NAME | list [--json]`)."""
    first, *others = cmd.split(" | ")
    parent = resolve(exe, words(first)[1:])[0][:-1]
    siblings = subcommands(help_text(exe, parent))
    alternatives = []
    for alt in others:
        if words(alt) and words(alt)[0] in siblings:
            alternatives.append(" ".join(["crema", *parent, alt]))
        else:
            first += " " + alt  # `[-o FILE | --output-dir DIR]`: options of the same command
    problems = check(exe, first)
    for alt in alternatives:
        problems += check(exe, alt)
    return problems


def check(exe: str, cmd: str) -> list[str]:
    ws = words(cmd)[1:]
    path, rest = resolve(exe, ws)
    text = help_text(exe, path)
    if not path:
        return [f"unknown subcommand {ws[0] if ws else '(none)'}"]
    if subcommands(text) and rest and not rest[0].startswith("-") and rest[0].upper() != rest[0]:
        return [f"`crema {' '.join(path)}` has no subcommand {rest[0]}"]
    problems = []
    for w in rest:
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])", w):
            long_ok = flag.startswith("--") and re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)
            short_ok = not flag.startswith("--") and re.search(rf"(?<![\w-]){re.escape(flag)},", text)
            if not (long_ok or short_ok):
                problems.append(f"`crema {' '.join(path)}` has no option {flag}")
    return problems


def main() -> int:
    exe = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/debug/crema")
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    seen = bad = 0
    for md in files:
        for line, cmd in commands(md):
            seen += 1
            for p in check_line(exe, cmd):
                bad += 1
                print(f"{md.relative_to(ROOT)}:{line}: {p}: {cmd}")
    print(f"{seen} crema command lines in {len(files)} files, {bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
