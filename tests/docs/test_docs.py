"""The documentation: no broken relative link in README.md or docs/**/*.md (files and #anchors), and every public
function and class of the package has a docstring (docs/_undocumented.txt lists the known exceptions; it may only
shrink).

Links: inline links `[text](target)` and reference definitions `[id]: target` outside fenced code blocks and inline
code. External targets (http:, https:, mailto:) are not fetched. A target is resolved relative to the file that
links it and must exist; a `#fragment` must be the GitHub anchor of a heading of the target file (lower-cased,
punctuation dropped, spaces -> "-", "-1", "-2" ... for repeated headings).

Docstrings: every module of the `refimpl` and `kernels` packages is imported; a public name is a function or
class whose name has no leading underscore and whose __module__ is that module (so re-exports count once, where
they are defined). A class needs its own docstring (class docstrings are not inherited).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ALLOWLIST = DOCS / "_undocumented.txt"
PACKAGES = ("refimpl", "kernels")
OPTIONAL = {"torch", "transformers", "cupy", "cupyx", "numba", "scipy", "safetensors", "tokenizers", "onnx",
            "onnxruntime", "matplotlib", "tqdm", "PIL", "torchvision"}


def markdown_files():
    files = [ROOT / "README.md"] + sorted(DOCS.rglob("*.md"))
    return [f for f in files if f.exists()]


# ============================================================================================ links
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")       # http:, https:, mailto:, ...


def _prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for i, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield i, line


def links_of(path: Path):
    """(line, target) of every link in the file, inline code removed first."""
    out = []
    for i, line in _prose_lines(path.read_text(encoding="utf-8")):
        line = INLINE_CODE.sub("", line)
        out += [(i, m.group(1)) for m in INLINE_LINK.finditer(line)]
        m = REF_DEF.match(line)
        if m:
            out.append((i, m.group(1)))
    return out


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: rendered text, lower case, punctuation and symbols dropped, spaces -> '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)      # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text)                              # inline HTML tags
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)                   # _emphasis_ markers, not snake_case
    text = text.strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors_of(path: Path) -> set:
    seen, anchors = {}, set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if not m:
            continue
        base = github_anchor(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        anchors.add(base if n == 0 else f"{base}-{n}")
    return anchors


def broken_links(path: Path, root: Path = ROOT):
    problems = []
    for line, target in links_of(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, fragment = target.partition("#")
        dest = path if not file_part else (path.parent / file_part).resolve()
        where = f"{path.relative_to(root)}:{line}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file {dest}")
            continue
        if fragment and dest.is_file() and dest.suffix == ".md" and fragment.lower() not in anchors_of(dest):
            problems.append(f"{where}: no heading with anchor #{fragment} in {dest.relative_to(root)}")
    return problems


def test_the_docs_exist():
    names = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    expected = {"index.md", "architecture.md", "kernels.md", "cli.md", "oracle.md", "tokenizers.md",
                "generation.md", "processing.md"} | {f"models/{m}.md" for m in (
                    "bert", "distilbert", "gpt2", "vit", "convnext", "convnextv2", "wav2vec2")}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path):
    problems = broken_links(path)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_doc_page_is_reachable_from_the_index():
    index = DOCS / "index.md"
    linked = {(index.parent / t.partition("#")[0]).resolve() for _, t in links_of(index)
              if not EXTERNAL.match(t) and t.partition("#")[0]}
    pages = {p.resolve() for p in DOCS.rglob("*.md") if p.name != "index.md"}
    assert not pages - linked, sorted(str(p.relative_to(ROOT)) for p in pages - linked)


def test_the_link_checker_can_fail(tmp_path):
    """The checker itself: a missing file, a missing anchor and a code-span link are told apart."""
    (tmp_path / "b.md").write_text("# Title: the `x` part\n## Title: the x part\n")
    page = tmp_path / "a.md"
    page.write_text("[ok](b.md#title-the-x-part) [ok2](b.md#title-the-x-part-1) [bad](c.md) "
                    "[bad anchor](b.md#nope) `[not a link](d.md)` [web](https://example.org/x)\n"
                    "```\n[in code](e.md)\n```\n[self](#local)\n## Local\n")
    problems = broken_links(page, root=tmp_path)
    assert len(problems) == 2 and "c.md" in problems[0] and "#nope" in problems[1], problems


# ============================================================================================ docstrings
def _modules():
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        yield pkg
        for info in pkgutil.walk_packages(pkg.__path__, package + "."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue                 # a private module (kernels.cuda._runtime): nothing in it is public
            try:
                yield importlib.import_module(info.name)
            except ImportError as exc:   # an optional dependency (cupy, torch...) that is not installed
                if (exc.name or "").split(".")[0] in OPTIONAL:
                    continue
                raise


def undocumented_names() -> set:
    missing = set()
    for module in _modules():
        for attr, obj in vars(module).items():
            if attr.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
            if not (doc or "").strip():
                missing.add(f"{module.__name__}.{attr}")
    return missing


def allowlisted() -> set:
    lines = ALLOWLIST.read_text(encoding="utf-8").splitlines()
    return {ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")}


@pytest.fixture(scope="module")
def undocumented():
    return undocumented_names()


def test_no_new_public_name_without_a_docstring(undocumented):
    new = sorted(undocumented - allowlisted())
    assert not new, ("public functions/classes without a docstring (give them one: math, shapes, dtypes):\n  "
                     + "\n  ".join(new))


def test_the_undocumented_list_only_shrinks(undocumented):
    """An entry that now has a docstring (or no longer exists) must leave docs/_undocumented.txt."""
    stale = sorted(allowlisted() - undocumented)
    assert not stale, "documented now, remove from docs/_undocumented.txt:\n  " + "\n  ".join(stale)


if __name__ == "__main__":   # python -m tests.docs.test_docs [--write]: list (or write) the undocumented names
    import sys
    names = sorted(undocumented_names())
    if "--write" in sys.argv[1:]:
        header = [line for line in ALLOWLIST.read_text(encoding="utf-8").splitlines() if line.startswith("#")] \
            if ALLOWLIST.exists() else []
        ALLOWLIST.write_text("\n".join(header + names) + "\n", encoding="utf-8")
    print("\n".join(names))
