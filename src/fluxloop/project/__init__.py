"""The project model shared by the runner, input generation, analysis and the CLI.

Config discovery and merge, validation, the YAML loader with key positions and in-place editing,
``.env`` files, inputs files, targets and the project scaffold. It depends on the SDK and nothing
above it.
"""
