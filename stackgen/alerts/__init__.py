"""Alert and recording rules, each alert with the promtool unit tests that prove it.

families.yaml declares every built-in family once (fields, rules, test recipe, runbook);
engine.py turns a family and the spec's values into rules and test cases, custom.py does
the same for the user's own alerts, rulesets.py assembles one RuleFile per domain and
checks every expression against the catalog.
"""
