"""The project model shared by the runner, input generation, analysis, the web UI and the CLI.

Config discovery, merge and schema, YAML (bounded loading with key positions, in-place editing),
``.env`` files, inputs files, targets, recordings (the reader), the experiment directory's file
names, and the services the CLI prints (config tools, status, the recording toggle, the
scaffold). It depends on the SDK and nothing above it; docs/project.md lists the modules.
"""
