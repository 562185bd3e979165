"""The dashboard against Grafana's own published types (``@grafana/schema``), checked by the TypeScript compiler:
every field the dashboard and its panels set has a name and a value Grafana knows.

The dashboard and each panel's options are written out as TypeScript literals typed with the schema's
interfaces. The schema's enums become their string values (the JSON holds strings), and a panel's options may
leave fields out (Grafana fills in the plugin's defaults), so what is checked is what the file says. CI installs
the pinned packages (``npm ci`` in ``grafana_schema/``) and sets LLMTEL_REQUIRE_GRAFANA_SCHEMA=1 so this cannot
skip there; elsewhere it skips without them.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.docker.stack_files import DOCKER

PACKAGES = Path(__file__).parent / "grafana_schema" / "node_modules"
RAW_TYPES = PACKAGES / "@grafana" / "schema" / "dist" / "types" / "raw"
TSC = PACKAGES / "typescript" / "bin" / "tsc"

# The panel plugins the dashboard uses, by the name of their options module in the schema; a row has no options.
PANEL_OPTIONS = {"timeseries": "TimeSeries", "stat": "Stat", "bargauge": "BarGauge", "logs": "Logs"}

# An enum member becomes its string value; ``Settable`` also makes every field optional (options left out).
_PREAMBLE = """\
type Literal<T> = T extends string ? `${T}` : T extends (infer U)[] ? Literal<U>[]
  : T extends object ? { [K in keyof T]: Literal<T[K]> } : T;
type Settable<T> = T extends string ? `${T}` : T extends (infer U)[] ? Settable<U>[]
  : T extends object ? { [K in keyof T]?: Settable<T[K]> } : T;
"""

_REQUIRED = os.environ.get("LLMTEL_REQUIRE_GRAFANA_SCHEMA") == "1"
pytestmark = pytest.mark.skipif(
    not _REQUIRED and (not TSC.exists() or shutil.which("node") is None),
    reason="@grafana/schema is not installed (npm ci --prefix tests/docker/grafana_schema)",
)


def typed_source(dashboard: dict) -> str:
    """The dashboard as TypeScript: the whole of it as a ``Dashboard``, each panel's options as its plugin's
    ``Options``, and a time series panel's field defaults as its ``FieldConfig``."""
    lines = [_PREAMBLE, f"import type {{ Dashboard }} from {json.dumps(str(RAW_TYPES / 'dashboard/x/types.gen'))};"]
    for plugin, name in PANEL_OPTIONS.items():
        module = json.dumps(str(RAW_TYPES / f"composable/{plugin}/panelcfg/x/types.gen"))
        lines.append(f"import type * as {name} from {module};")
    lines.append(f"export const dashboard: Literal<Dashboard> = {json.dumps(dashboard, indent=1)};")
    for index, panel in enumerate(dashboard["panels"]):
        name = PANEL_OPTIONS.get(panel["type"])
        if name is None:
            continue
        lines.append(f"export const options{index}: Settable<{name}.Options> = {json.dumps(panel.get('options', {}))};")
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None and panel["type"] == "timeseries":
            lines.append(f"export const custom{index}: Settable<TimeSeries.FieldConfig> = {json.dumps(custom)};")
    return "\n".join(lines) + "\n"


def type_errors(dashboard: dict, tmp_path: Path) -> list[str]:
    """What the TypeScript compiler finds wrong in ``dashboard`` (one line per error; none when it is right)."""
    source = tmp_path / "dashboard.ts"
    source.write_text(typed_source(dashboard))
    result = subprocess.run(["node", str(TSC), "--noEmit", "--strict", "--skipLibCheck", str(source)],
                            capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stdout.splitlines() if ": error TS" in line]
    assert bool(errors) == (result.returncode != 0), result.stdout + result.stderr
    return errors


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads((DOCKER / "grafana/dashboards/llm-overview.json").read_text())


def test_every_panel_plugin_is_checked(dashboard):
    assert {panel["type"] for panel in dashboard["panels"]} - {"row"} <= set(PANEL_OPTIONS)


def test_the_dashboard_has_grafanas_types(dashboard, tmp_path):
    assert type_errors(dashboard, tmp_path) == []


def test_the_check_finds_unknown_fields_and_values(dashboard, tmp_path):
    broken = copy.deepcopy(dashboard)
    panels = {kind: next(p for p in broken["panels"] if p["type"] == kind) for kind in PANEL_OPTIONS}
    panels["timeseries"]["gridPosition"] = panels["timeseries"].pop("gridPos")
    panels["timeseries"]["fieldConfig"]["defaults"]["custom"]["drawStyle"] = "lines"
    panels["stat"]["options"]["colorMode"] = "colour"
    panels["logs"]["options"]["sortOrder"] = "Newest first"
    broken["refresh"] = 30
    errors = "\n".join(type_errors(broken, tmp_path))
    for wrong in ("'\"gridPosition\"' does not exist", '"lines"', '"colour"', '"Newest first"', "'number'"):
        assert wrong in errors
