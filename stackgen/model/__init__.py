"""The validated, immutable model of the spec. Renderers read only this, never the YAML."""
