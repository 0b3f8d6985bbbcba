"""The package dependency rules, checked on the source with `ast` (every import, including
those inside functions and under TYPE_CHECKING):

- drivers/ imports nothing from headend/ or billing/ (the service is built on the drivers);
- drivers/dlms/ imports nothing from drivers/sim/ (the simulator serves the DLMS server's
  object model, never the other way round);
- billing/ imports nothing from drivers/ (billing works on stored data and the command service,
  it never talks to meters);
- headend/ imports billing/ only in its entry point, headend/cli/main.py, which composes the two
  (billing's service part reaches `headend run` through headend/service/extensions.py);
- dlms_cosem is imported only under drivers/dlms/ (licence: the codec can be swapped there);
- client/ and server/ under drivers/dlms/ share no module name, so a name says its side.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            # `from drivers import sim` imports the package drivers.sim
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _offenders(files: list[Path], *prefixes: str) -> list[str]:
    found = []
    for path in files:
        for line, module in _imports(path):
            if any(module == p or module.startswith(p + ".") for p in prefixes):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return sorted(set(found))


def test_the_scanner_sees_imports() -> None:
    # the rules below pass vacuously if the scanner finds nothing: it must find known imports
    sim = ROOT / "drivers/sim/dlms_sim.py"
    assert _offenders([sim], "drivers.dlms.server")
    assert _offenders([ROOT / "drivers/dlms/client/session.py"], "dlms_cosem")
    assert len(_sources("drivers/dlms")) > 30


def test_drivers_import_nothing_from_the_service() -> None:
    assert _offenders(_sources("drivers"), "headend", "billing") == []


def test_billing_never_talks_to_meters() -> None:
    assert len(_sources("billing")) > 20
    assert _offenders(_sources("billing"), "drivers") == []


def test_headend_imports_billing_only_at_its_entry_point() -> None:
    entry = ROOT / "headend/cli/main.py"
    assert _offenders([entry], "billing")  # the scanner sees the one that is allowed
    others = [p for p in _sources("headend") if p != entry]
    assert _offenders(others, "billing") == []


def test_dlms_imports_nothing_from_the_simulator() -> None:
    assert _offenders(_sources("drivers/dlms"), "drivers.sim") == []


def test_dlms_cosem_is_imported_only_in_drivers_dlms() -> None:
    outside = [
        p
        for p in _sources("drivers", "headend", "billing", "bench")
        if not p.is_relative_to(ROOT / "drivers/dlms")
    ]
    assert _offenders(outside, "dlms_cosem") == []


def test_client_and_server_share_no_module_name() -> None:
    def names(side: str) -> set[str]:
        folder = ROOT / "drivers/dlms" / side
        return {p.name for p in folder.rglob("*.py")} - {"__init__.py"}

    assert names("client") and names("server")
    assert names("client") & names("server") == set()
