"""Reading the spec: YAML with line numbers, and typed field access with paths."""
