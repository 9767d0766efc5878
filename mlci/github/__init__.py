"""GitHub integration: the Actions context, workflow commands and (lazily) the REST client.

`mlci.github.client` imports requests, so callers import it inside the function that posts.
"""

from mlci.github.context import GitHubContext
from mlci.github.workflow import (
    add_mask,
    annotation,
    append_summary,
    endgroup,
    group,
    mask_secret,
    set_output,
)

__all__ = [
    "GitHubContext",
    "add_mask",
    "annotation",
    "append_summary",
    "endgroup",
    "group",
    "mask_secret",
    "set_output",
]
