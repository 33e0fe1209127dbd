"""Every generated dashboard validates against Grafana 12's published JSON schemas, with zero errors."""
from __future__ import annotations

import json

from jsonschema import Draft7Validator

from tests.dashboards.conftest import panels_of


def _errors(validator: Draft7Validator, instance, where: str) -> list[str]:
    return [f"{where}: /{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]


def dashboard_errors(dashboards: dict[str, dict], schema_dir) -> list[str]:
    schema = json.loads((schema_dir / "dashboard.jsonschema.json").read_text())
    # A field override's matcher options are the matcher's own (the SDK's MatcherConfig says
    # `options?: any`): byFrameRefID takes a refId string, which the generated JSON schema's "object"
    # would refuse. Relaxed here, in memory; the vendored file stays as published.
    schema["definitions"]["MatcherConfig"]["properties"]["options"].pop("type")
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema)
    return [e for path, dashboard in sorted(dashboards.items()) for e in _errors(validator, dashboard, path)]


def test_every_dashboard_validates_against_the_dashboard_schema(dashboards, schema_dir):
    errors = dashboard_errors(dashboards, schema_dir)
    assert not errors, "\n".join(errors)


def _plugin_validator(schema_dir, plugin: str, definition: str) -> Draft7Validator | None:
    schema = json.loads((schema_dir / f"{plugin.replace('-', '')}.jsonschema.json").read_text())
    if definition not in schema["definitions"]:
        return None
    return Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]})


# Grafana publishes no JSON schema for the bar chart (grafana-foundation-sdk has none; see the schema
# folder's README). What can be checked: its option keys against the plugin's panelcfg.cue (Grafana 12),
# the legend and tooltip against the shared definitions the time series schema carries, and the custom
# field config against the time series GraphFieldConfig (a superset of the bar chart's).
NO_SCHEMA = ("barchart",)
BARCHART_OPTIONS = {"orientation", "xTickLabelRotation", "xTickLabelMaxLength", "xTickLabelSpacing", "showValue",
                    "stacking", "groupWidth", "barWidth", "barRadius", "fullHighlight", "colorByField", "xField",
                    "legend", "tooltip", "text"}
BARCHART_REQUIRED = {"orientation", "xTickLabelRotation", "showValue", "stacking", "groupWidth", "barWidth",
                     "barRadius", "fullHighlight", "legend", "tooltip"}


def _barchart_errors(schema_dir, panel: dict, where: str) -> list[str]:
    options = panel["options"]
    errors = [f"{where} options: unknown key {k!r}" for k in sorted(set(options) - BARCHART_OPTIONS)]
    errors += [f"{where} options: missing {k!r}" for k in sorted(BARCHART_REQUIRED - set(options))]
    errors += _errors(_plugin_validator(schema_dir, "timeseries", "VizLegendOptions"), options["legend"],
                      f"{where} options.legend")
    errors += _errors(_plugin_validator(schema_dir, "timeseries", "VizTooltipOptions"), options["tooltip"],
                      f"{where} options.tooltip")
    errors += _errors(_plugin_validator(schema_dir, "timeseries", "GraphFieldConfig"),
                      panel["fieldConfig"]["defaults"]["custom"], f"{where} fieldConfig.defaults.custom")
    if options["orientation"] not in ("auto", "horizontal", "vertical"):
        errors.append(f"{where} options.orientation: {options['orientation']!r}")
    if options["stacking"] not in ("none", "normal", "percent"):
        errors.append(f"{where} options.stacking: {options['stacking']!r}")
    return errors


def test_every_panel_validates_against_its_plugin_schema(dashboards, schema_dir):
    """`options` against the plugin's Options, `fieldConfig.defaults.custom` against its FieldConfig."""
    errors, checked = panel_errors(dashboards, schema_dir)
    assert checked > 30
    assert not errors, "\n".join(errors)


def panel_errors(dashboards: dict[str, dict], schema_dir) -> tuple[list[str], int]:
    """(errors, panels checked) of every panel against its plugin's schema."""
    errors, checked = [], 0
    for path, dashboard in sorted(dashboards.items()):
        for panel in panels_of(dashboard):
            if panel["type"] == "row":
                continue
            where = f"{path} panel {panel['id']} ({panel['title']})"
            if panel["type"] in NO_SCHEMA:
                errors += _barchart_errors(schema_dir, panel, where)
                checked += 1
                continue
            plugin_file = schema_dir / f"{panel['type'].replace('-', '')}.jsonschema.json"
            assert plugin_file.is_file(), f"{path}: panel type {panel['type']!r} has no published schema"
            errors += _errors(_plugin_validator(schema_dir, panel["type"], "Options"), panel["options"],
                              f"{where} options")
            custom_validator = _plugin_validator(schema_dir, panel["type"], "FieldConfig")
            custom = panel["fieldConfig"]["defaults"].get("custom")
            if custom is not None:
                assert custom_validator is not None, f"{where}: {panel['type']} takes no custom field config"
                errors += _errors(custom_validator, custom, f"{where} fieldConfig.defaults.custom")
            checked += 1
    return errors, checked


def test_every_declared_panel_type_is_rendered_and_checked(edited_spec, schema_dir):
    """Each panel type the model declares is in the fixture dashboard, renders, and validates against its
    plugin's schema (or the bar chart's checks), whatever the shipped dashboards use."""
    from stackgen import conventions as names
    from stackgen.model.dashboards import PANEL_TYPES
    from stackgen.pipeline import render_spec
    from stackgen.render.panels import FACTORIES
    from tests.dashboards.fixture import FIXTURE_UID, fixture_spec
    assert set(FACTORIES) == set(PANEL_TYPES)      # one factory per declared type, none undeclared
    path = names.dashboard_file("fixtures", FIXTURE_UID)
    board = json.loads(render_spec(edited_spec(fixture_spec), "spec.yaml")[1][path])
    seen = {p["type"] for p in panels_of(board)}
    assert set(PANEL_TYPES) <= seen, f"add a panel of {set(PANEL_TYPES) - seen} to tests/dashboards/fixture.py"
    errors, checked = panel_errors({path: board}, schema_dir)
    assert not errors and checked == sum(p["type"] != "row" for p in panels_of(board)), errors
    for kind in PANEL_TYPES:
        has_schema = (schema_dir / f"{kind.replace('-', '')}.jsonschema.json").is_file()
        assert has_schema != (kind in NO_SCHEMA), kind


def test_the_schemas_are_vendored_with_their_source_and_license(schema_dir):
    from tests.conftest import ROOT
    assert schema_dir.is_relative_to(ROOT), "tests read the schemas from the repository, never from beside it"
    readme = (schema_dir / "README.md").read_text()
    assert "grafana/grafana-foundation-sdk" in readme and "Apache License, Version 2.0" in readme
    assert "f178d5a42a8915fdda9235e97ad93881e3f94fef" in readme
    for path in sorted(schema_dir.glob("*.jsonschema.json")):
        Draft7Validator.check_schema(json.loads(path.read_text()))
