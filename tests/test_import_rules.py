"""The import rules lint-imports cannot express (.importlinter holds the layers contract):

- no module of the apps uses another module's private (`_name`) names, by `from m import _name`
  or by `m._name` on an imported module: what another module needs is its public API;
- the lead records' domain modules import neither the apps above nor the composition root
  (which lint-imports exempts from the layers, so a domain module importing it would hide an
  upward dependency)."""

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
APPS = ("leadhub", "qualification", "handoff")
# The composition root: the modules that put the apps together (docs/architecture.md).
COMPOSITION_ROOT = {
    "leadhub.settings",
    "leadhub.urls",
    "leadhub.wsgi",
    "leadhub.asgi",
    "leadhub.celery",
    "leadhub.views",
    "leadhub.api",
    "leadhub.admin",
    "leadhub.filters",
    "leadhub.health",
    "leadhub.sweeper",
}


def _modules():
    """The apps' modules, migrations aside (frozen history, held to their own rule: self-contained)."""
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def _absolute(module, path, node):
    """The absolute name of the module a `from ... import` reads from."""
    if not node.level:
        return node.module
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def private_uses():
    """(module, line, what) for every use of another module's private name."""
    found, modules = [], {name for name, _ in _modules()}
    for module, path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        imported = {}  # local name -> the project module it is
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(module, path, node)
                if not source or not source.startswith(APPS):
                    continue
                for alias in node.names:
                    if _private(alias.name) and source != module:
                        found.append((module, node.lineno, f"from {source} import {alias.name}"))
                    imported[alias.asname or alias.name] = f"{source}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(APPS):
                        imported[alias.asname or alias.name.split(".")[0]] = (
                            alias.name if alias.asname else alias.name.split(".")[0]
                        )
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and isinstance(node.value, ast.Name)
                and imported.get(node.value.id) in modules - {module}
            ):
                found.append((module, node.lineno, f"{node.value.id}.{node.attr}"))
    return found


def test_no_module_uses_another_modules_private_names():
    assert private_uses() == []


def test_a_private_import_is_found():
    """The walk above sees what it looks for (so its empty answer means something)."""
    tree = ast.parse("from leadhub.services import _secret\n")
    node = tree.body[0]
    assert _absolute("handoff.views.queue", ROOT / "handoff" / "views" / "queue.py", node) == "leadhub.services"
    relative = ast.parse("from ..records import _lock\n").body[0]
    assert _absolute("handoff.services.decisions", ROOT / "handoff" / "services" / "decisions.py", relative) == "handoff.records"


def test_the_lead_records_import_nothing_above_them():
    graph = grimp.build_graph(*APPS, include_external_packages=False)
    domain = {m for m in graph.find_descendants("leadhub") if m not in COMPOSITION_ROOT} | {"leadhub"}
    upward = sorted(
        (module, imported)
        for module in domain
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith(("qualification", "handoff")) or imported in COMPOSITION_ROOT
    )
    # leadhub/__init__ loads the Celery app (Django's documented set-up), nothing else of the root.
    assert upward == [("leadhub", "leadhub.celery")]
