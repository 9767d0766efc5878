"""What the tests stand on: the real servers they start, the project factory, running `mlci`, data.

- cli.py: `Run`, `mlci_env`, `run_mlci` (in this process) and `run_process` (a real process).
- project.py: `ProjectCopy`, a project a test copies and edits structurally (the `project` fixture).
- fixtures.py: the shared fixtures, registered by tests/conftest.py.
- github_server.py, github_spec.py: the GitHub API test server and GitHub's vendored description (vendor/github).
- s3_server.py, pg_server.py: SeaweedFS and PostgreSQL 15 on 127.0.0.1.
- tools.py: the test tool binaries, a local HTTP server, preloaded `mlci` processes.
- chromium.py: headless Chromium over the DevTools protocol, for screenshots of what GitHub shows
  (with GitHub's Markdown CSS, vendor/github-markdown-css).
- newcomer_data.py: public tables a newcomer might start from.
- data/: records that earlier mlci versions wrote.
"""
