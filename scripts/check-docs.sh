#!/usr/bin/env bash
# Checks that the documentation still matches the repository, so a rename or a move in the
# code cannot silently leave the docs pointing at nothing. Files checked: README.md and
# every docs/**/*.md.
#
#  1. Every relative Markdown link (inline, image or reference definition) resolves to an
#     existing file or directory; a link with a #fragment into a Markdown file must name a
#     heading of that file (GitHub's anchor rules). External links (http:, https:,
#     mailto:) are not fetched: CI must not depend on the network.
#  2. Every repository path written in backticks or in a code block, such as
#     `store-manager/src/outbox/actor.rs`, exists. A word counts as a repository path when
#     its first component is a top-level directory of the repository (coolriel/, db/,
#     scripts/, ...); runtime places (output/, logs/, data/) are git-ignored and skipped.
#     Brace lists (`outbox/{mod,actor}.rs`) and globs (`kafka/*.rs`) are expanded.
#  3. Every Rust path in backticks that starts with a workspace crate, such as
#     `coolriel::kafka::partition::PartitionActor` or
#     `store_manager::outbox::OutboxPublisher::try_publish_next`, names a module that
#     exists and an item declared (or re-exported) in it; a last segment after a type
#     (a method or a variant) must appear in that crate's sources.
#  4. docs/lab-walkthrough.md and docs/lab-walkthrough.fr.md (the same walkthrough in
#     French) run the same commands in the same order: the `$ ` lines of their `console`
#     code blocks and the lines of their `sh` blocks must be identical.
#
# Exit status: 0 when everything resolves, 1 with one line per problem otherwise.
#
#   scripts/check-docs.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

exec python3 - "$@" <<'PY'
import glob
import itertools
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path.cwd()

# Crate name in Rust paths -> its source directory.
CRATES = {
    "shared_events": ROOT / "shared-events" / "src",
    "store_manager": ROOT / "store-manager" / "src",
    "coolriel": ROOT / "coolriel" / "src",
    "db": ROOT / "db" / "src",
    "test_support": ROOT / "test-support" / "src",
    "supervision": ROOT / "supervision" / "src",
}

# Top-level directories whose paths are checked. The fixed names keep a directory that was
# renamed away from silently dropping out of the check; the rest are whatever the
# repository holds and git does not ignore.
KNOWN_ROOTS = {".ci", "coolriel", "db", "docs", "scripts", "shared-events",
               "store-manager", "supervision", "templates", "test-support"}


def git_ignored(name):
    try:
        return subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def path_roots():
    roots = set(KNOWN_ROOTS)
    for entry in ROOT.iterdir():
        if entry.is_dir() and entry.name not in {".git", "target"} and not git_ignored(entry.name):
            roots.add(entry.name)
    return roots


ROOTS = path_roots()


def doc_files():
    files = [ROOT / "README.md"] if (ROOT / "README.md").exists() else []
    files += sorted((ROOT / "docs").rglob("*.md")) if (ROOT / "docs").exists() else []
    return files


# --- Markdown scanning -------------------------------------------------------------------

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def split_lines(text):
    """Yield (line number, line, in_code_block) for every line of a Markdown file."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * len(match.group(1))
            yield number, line, True
        elif fence is not None and line.strip().startswith(fence):
            fence = None
            yield number, line, True
        else:
            yield number, line, fence is not None


CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'(][^)]*)?\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def github_slug(heading):
    """The anchor GitHub gives a heading: lower case, markup and punctuation dropped,
    spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    found, seen = set(), {}
    for _, line, in_code in split_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_code or not match:
            continue
        slug = github_slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    for name in re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text(encoding="utf-8")):
        found.add(name)
    return found


def check_link(doc, number, target, problems):
    target = target.strip("<>")
    if not target or EXTERNAL.match(target):
        return
    file_part, _, fragment = target.partition("#")
    if file_part:
        base = ROOT if file_part.startswith("/") else doc.parent
        resolved = (base / file_part.lstrip("/")).resolve()
    else:
        resolved = doc
    where = f"{doc.relative_to(ROOT)}:{number}"
    if not resolved.exists():
        problems.append(f"{where}: broken link ({target}): {display(resolved)} does not exist")
        return
    if fragment and resolved.is_file() and resolved.suffix == ".md":
        if fragment.lower() not in anchors(resolved):
            problems.append(f"{where}: broken link ({target}): no heading #{fragment} in {display(resolved)}")


def display(path):
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# --- Repository paths --------------------------------------------------------------------

PATH_WORD = re.compile(r"[A-Za-z0-9_.\-/{}*,]+")


def expand_braces(word):
    match = re.search(r"\{([^{}]*)\}", word)
    if not match:
        return [word]
    options = match.group(1).split(",")
    return list(itertools.chain.from_iterable(
        expand_braces(word[:match.start()] + option + word[match.end():]) for option in options))


def check_paths(doc, number, text, problems):
    for word in PATH_WORD.findall(text):
        word = word.strip(".,;")
        if "/" not in word or word.startswith("/") or "//" in word:
            continue
        if word.split("/", 1)[0] not in ROOTS:
            continue
        for candidate in expand_braces(word):
            if any(ch in candidate for ch in "*?["):
                exists = bool(glob.glob(str(ROOT / candidate)))
            else:
                exists = (ROOT / candidate).exists()
            if not exists:
                problems.append(f"{doc.relative_to(ROOT)}:{number}: no such path in the repository: {candidate}")


# --- Rust paths --------------------------------------------------------------------------

RUST_PATH = re.compile(r"^(?:" + "|".join(CRATES) + r")(?:::[A-Za-z_][A-Za-z0-9_]*)+$")
DECLARATION = r"(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:struct|enum|trait|type|fn|const|static|mod|union)\s+{name}\b"


def module_file(directory, name):
    for candidate in (directory / f"{name}.rs", directory / name / "mod.rs"):
        if candidate.exists():
            return candidate
    return None


def declares(source, name):
    if re.search(DECLARATION.format(name=re.escape(name)), source):
        return True
    if re.search(r"macro_rules!\s*" + re.escape(name) + r"\b", source):
        return True
    # Re-exports: `pub use a::b::Name;`, `pub use a::{Name, Other};`, `... as Name`.
    for use in re.findall(r"pub(?:\([^)]*\))?\s+use\s+([^;]+);", source, re.S):
        if re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", use):
            return True
    return False


def crate_sources(crate_dir):
    return "\n".join(path.read_text(encoding="utf-8") for path in crate_dir.rglob("*.rs"))


def check_rust_path(doc, number, text, problems):
    if not RUST_PATH.match(text):
        return
    crate, *segments = text.split("::")
    directory = CRATES[crate]
    current = directory / ("main.rs" if not (directory / "lib.rs").exists() else "lib.rs")
    where = f"{doc.relative_to(ROOT)}:{number}"
    # Walk the modules as far as files exist.
    while segments:
        found = module_file(current.parent if current.name in {"lib.rs", "mod.rs", "main.rs"}
                            else current.with_suffix(""), segments[0])
        if found is None:
            break
        current = found
        segments = segments[1:]
    if not segments:
        return
    source = current.read_text(encoding="utf-8")
    item, *members = segments
    if not declares(source, item):
        problems.append(f"{where}: `{text}`: {item} is not declared in {display(current)}")
        return
    if len(members) > 1:
        problems.append(f"{where}: `{text}`: cannot check a path this deep past {item}")
        return
    if members and not re.search(r"\b" + re.escape(members[0]) + r"\b", crate_sources(directory)):
        problems.append(f"{where}: `{text}`: {members[0]} does not appear in {display(directory)}")


# --- The two lab walkthroughs ------------------------------------------------------------

# The same walkthrough in English and in French; a reader of either must run the same
# commands, in the same order.
WALKTHROUGHS = (ROOT / "docs" / "lab-walkthrough.md", ROOT / "docs" / "lab-walkthrough.fr.md")
SHELL_BLOCKS = {"sh", "bash", "shell", "console"}


def walkthrough_commands(path):
    """(line number, command) for every command of the file's shell code blocks: in a
    `console` block the lines after a `$ ` prompt (with their `\\` continuations), in a
    `sh` block every line that is not blank or a comment."""
    commands = []
    language = None
    continuing = False
    for number, line, in_code in split_lines(path.read_text(encoding="utf-8")):
        if FENCE.match(line):
            if language is None and in_code:
                language = FENCE.sub("", line).strip().split(" ")[0] or "text"
            else:
                language, continuing = None, False
            continue
        if not in_code or language not in SHELL_BLOCKS:
            continue
        if continuing:
            commands[-1] = (commands[-1][0], commands[-1][1] + "\n" + line)
        elif language == "console" and line.startswith("$ "):
            commands.append((number, line[2:]))
        elif language != "console" and line.strip() and not line.lstrip().startswith("#"):
            commands.append((number, line))
        else:
            continue
        continuing = line.rstrip().endswith("\\")
    return commands


def check_walkthroughs(problems):
    english, french = WALKTHROUGHS
    if not english.exists() or not french.exists():
        missing = english if not english.exists() else french
        problems.append(f"{display(missing)}: missing (the walkthrough exists in English and French)")
        return
    ours, theirs = walkthrough_commands(english), walkthrough_commands(french)
    if not ours:
        problems.append(f"{display(english)}: no command found in its code blocks")
    for (line_en, command_en), (line_fr, command_fr) in zip(ours, theirs):
        if command_en != command_fr:
            problems.append(f"{display(english)}:{line_en} and {display(french)}:{line_fr} run different "
                            f"commands:\n    {command_en}\n    {command_fr}")
            return
    if len(ours) != len(theirs):
        longer, extra = (english, ours) if len(ours) > len(theirs) else (french, theirs)
        line, command = extra[min(len(ours), len(theirs))]
        problems.append(f"{display(longer)}:{line}: a command the other walkthrough lacks: {command}")


# --- Main --------------------------------------------------------------------------------

def main():
    problems = []
    check_walkthroughs(problems)
    files = doc_files()
    for doc in files:
        text = doc.read_text(encoding="utf-8")
        for number, line, in_code in split_lines(text):
            if in_code:
                check_paths(doc, number, line, problems)
                continue
            for match in CODE_SPAN.finditer(line):
                span = match.group(2).strip()
                check_paths(doc, number, span, problems)
                check_rust_path(doc, number, span, problems)
            prose = CODE_SPAN.sub("", line)
            for match in INLINE_LINK.finditer(prose):
                check_link(doc, number, match.group(1), problems)
            match = REFERENCE_DEF.match(prose)
            if match:
                check_link(doc, number, match.group(1), problems)
    if problems:
        print(f"check-docs: {len(problems)} problem(s) in {len(files)} file(s):")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print(f"check-docs: {len(files)} file(s), every link and path resolves; "
          f"both lab walkthroughs run the same {len(walkthrough_commands(WALKTHROUGHS[0]))} commands")
    return 0


sys.exit(main())
PY
