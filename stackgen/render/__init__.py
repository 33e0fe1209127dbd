"""One renderer per artifact. Each takes the validated Stack and returns {relative path: text}."""
