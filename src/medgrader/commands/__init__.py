"""The `medgrader` command's sub-commands (edges, like medgrader.cli that mounts them)."""
