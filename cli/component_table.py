"""The README's table of components, rendered from their records so it cannot drift.

Rewrite it in place with `python -m cli.component_table`; a test compares them.
"""

from __future__ import annotations

from pathlib import Path

from common.components import COMPONENTS, Component

__all__ = ["README", "render", "with_table"]

README = Path(__file__).resolve().parents[1] / "README.md"
_START = "<!-- components: generated from common/components.py by `python -m cli.component_table` -->"
_END = "<!-- end of components -->"


def render() -> str:
    rows = [
        "| component | what it does | port | tokens it accepts | scopes of its own client | run it |",
        "|---|---|---|---|---|---|",
    ]
    rows += [
        f"| `{c.name}` | {c.summary} | {c.port} | {_scopes(c.serves)} | {_scopes(c.client_scopes) or 'none'} "
        f"| {_commands(c)} |"
        for c in COMPONENTS.values()
    ]
    return "\n".join(rows)


def with_table(readme: str) -> str:
    """`readme` with the text between the markers replaced by the table."""
    before, found, rest = readme.partition(_START)
    _, ended, after = rest.partition(_END)
    if not (found and ended):
        raise ValueError(f"The README has no {_START} ... {_END} block.")
    return f"{before}{_START}\n{render()}\n{_END}{after}"


def _scopes(scopes: tuple[str, ...]) -> str:
    return ", ".join(f"`{scope}`" for scope in scopes)


def _commands(component: Component) -> str:
    verbs = ("stdio", "serve") if component.stdio else ("serve",)
    commands = ", ".join(f"`sre {verb} {component.name}`" for verb in verbs)
    commands += f" (`:{component.port}{component.audience_path}`)"
    # Every agent package is also an ADK app (`root_agent`).
    return f"{commands}, `adk web agents`" if component.kind == "agent" else commands


if __name__ == "__main__":
    README.write_text(with_table(README.read_text()))
