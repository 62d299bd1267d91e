"""MkDocs hooks of the documentation site (``make docs``): the guide pages are the README's sections and the
examples' sources, generated at build time so the site never drifts from them.

* ``index.md``: the README up to its first ``##`` heading.
* ``guide/<slug>.md``: one page per ``##`` section of the README (its ``###`` sub-sections included).
* ``examples/<name>.md``: each ``examples/*.py``: its docstring as text, then the script.
Image links ``docs/figures/...`` are rewritten to the site's ``figures/...`` and links to example scripts to
their pages.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def readme_pages() -> list[tuple[str, str, str]]:
    """``(title, path, markdown)`` of the README's intro and each ``##`` section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    pages = [("Home", "index.md", parts[0])]
    for part in parts[1:]:
        title = part.splitlines()[0].strip()
        body = "# " + part
        body = re.sub(r"^### ", "## ", body, flags=re.MULTILINE)
        pages.append((title, f"guide/{_slug(title)}.md", body))
    return [(t, p, _site_links(md, "" if p == "index.md" else "../")) for t, p, md in pages]


def _site_links(markdown: str, up: str) -> str:
    """README links as the site sees them: figures under ``figures/``, example scripts as their pages."""
    markdown = markdown.replace("](docs/figures/", f"]({up}figures/")
    return re.sub(r"\]\(examples/([\w-]+)\.py\)", lambda m: f"]({up}examples/{m.group(1)}.md)", markdown)


def example_pages() -> list[tuple[str, str, str]]:
    """``(title, path, markdown)`` of each example script: docstring, then the code."""
    pages = []
    for script in sorted((ROOT / "examples").glob("*.py")):
        source = script.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(source)) or ""
        title = doc.splitlines()[0].rstrip(".") if doc else script.stem
        body = f"# {title}\n\n{doc}\n\n`examples/{script.name}`:\n\n```python\n{source}```\n"
        pages.append((title, f"examples/{script.stem}.md", body))
    return pages


def on_config(config: Any) -> Any:
    """The navigation: home, the README's sections, the examples, the API reference."""
    readme = readme_pages()
    api = sorted(p.name for p in (ROOT / "docs" / "api").glob("*.md"))
    config["nav"] = [
        {"Home": "index.md"},
        {"Guide": [{t: p} for t, p, _ in readme[1:]]},
        {"Examples": [{t: p} for t, p, _ in example_pages()]},
        {"API reference": [f"api/{name}" for name in api]},
    ]
    return config


def on_files(files: Files, config: Any) -> Files:
    """Add the generated pages."""
    for _, path, markdown in readme_pages() + example_pages():
        files.append(File.generated(config, path, content=markdown))
    return files
