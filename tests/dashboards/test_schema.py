"""Every generated dashboard validates against Grafana 12's published JSON schemas, with zero errors."""
from __future__ import annotations

import json

from jsonschema import Draft7Validator

from tests.dashboards.conftest import panels_of


def _errors(validator: Draft7Validator, instance, where: str) -> list[str]:
    return [f"{where}: /{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]


def test_every_dashboard_validates_against_the_dashboard_schema(dashboards, schema_dir):
    schema = json.loads((schema_dir / "dashboard.jsonschema.json").read_text())
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema)
    errors = [e for path, dashboard in sorted(dashboards.items()) for e in _errors(validator, dashboard, path)]
    assert not errors, "\n".join(errors)


def _plugin_validator(schema_dir, plugin: str, definition: str) -> Draft7Validator | None:
    schema = json.loads((schema_dir / f"{plugin.replace('-', '')}.jsonschema.json").read_text())
    if definition not in schema["definitions"]:
        return None
    return Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]})


def test_every_panel_validates_against_its_plugin_schema(dashboards, schema_dir):
    """`options` against the plugin's Options, `fieldConfig.defaults.custom` against its FieldConfig."""
    errors, checked = [], 0
    for path, dashboard in sorted(dashboards.items()):
        for panel in panels_of(dashboard):
            if panel["type"] == "row":
                continue
            plugin_file = schema_dir / f"{panel['type'].replace('-', '')}.jsonschema.json"
            assert plugin_file.is_file(), f"{path}: panel type {panel['type']!r} has no published schema"
            where = f"{path} panel {panel['id']} ({panel['title']})"
            errors += _errors(_plugin_validator(schema_dir, panel["type"], "Options"), panel["options"],
                              f"{where} options")
            custom_validator = _plugin_validator(schema_dir, panel["type"], "FieldConfig")
            custom = panel["fieldConfig"]["defaults"].get("custom")
            if custom is not None:
                assert custom_validator is not None, f"{where}: {panel['type']} takes no custom field config"
                errors += _errors(custom_validator, custom, f"{where} fieldConfig.defaults.custom")
            checked += 1
    assert checked > 30
    assert not errors, "\n".join(errors)


def test_the_schemas_are_vendored_with_their_source_and_license(schema_dir):
    from tests.conftest import ROOT
    assert schema_dir.is_relative_to(ROOT), "tests read the schemas from the repository, never from beside it"
    readme = (schema_dir / "README.md").read_text()
    assert "grafana/grafana-foundation-sdk" in readme and "Apache License, Version 2.0" in readme
    assert "f178d5a42a8915fdda9235e97ad93881e3f94fef" in readme
    for path in sorted(schema_dir.glob("*.jsonschema.json")):
        Draft7Validator.check_schema(json.loads(path.read_text()))
