#!/usr/bin/env python3
"""Checks that every relative Markdown link (and its #anchor, GitHub-style) in
README.md and docs/ resolves. Usage: scripts/check-doc-links.py [REPO_ROOT]
(default: the current folder). Not run by scripts/test.sh."""
import re, sys, os, glob
root = sys.argv[1] if len(sys.argv) > 1 else '.'
files = [os.path.join(root, 'README.md')] + sorted(glob.glob(os.path.join(root, 'docs', '**', '*.md'), recursive=True))
def slug(t):
    t = re.sub(r'`', '', t).strip().lower()
    t = re.sub(r'[^\w\- ]', '', t)   # GitHub: drop punctuation except - and _
    return t.replace(' ', '-')
def anchors(path):
    out, seen, fence = set(), {}, False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'): fence = not fence; continue
        if fence: continue
        m = re.match(r'#{1,6} (.*)', line)
        if m:
            s = slug(m.group(1)); n = seen.get(s, 0); seen[s] = n + 1
            out.add(s if n == 0 else f'{s}-{n}')
    return out
bad = 0
for f in files:
    text, fence = [], False
    for line in open(f, encoding='utf-8'):
        if line.startswith('```'): fence = not fence; continue
        if not fence: text.append(re.sub(r'`[^`]*`', '', line))
    for target in re.findall(r'\]\(([^)\s]+)\)', ''.join(text)):
        if re.match(r'[a-z]+:', target): continue
        path, _, frag = target.partition('#')
        dest = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
        if not os.path.exists(dest):
            print(f'{f}: missing {target}'); bad += 1; continue
        if frag and dest.endswith('.md') and frag not in anchors(dest):
            print(f'{f}: no anchor #{frag} in {dest}'); bad += 1
print(f'{len(files)} files, {bad} broken links'); sys.exit(1 if bad else 0)
