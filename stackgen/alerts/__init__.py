"""Alert and recording rules, each alert with the promtool unit tests that prove it.

One module per domain builds a RuleFile from the model: the rules, and test cases
derived from the same thresholds, so changing a number in the spec changes both.
"""
