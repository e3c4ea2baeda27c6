"""agentkit quickstart: a custom-tool research agent.

Runs offline with no API key: the model here is SCRIPTED (agentkit's bundled fake
provider replays a fixed trajectory over real HTTP on 127.0.0.1). The agent code is the
same you would run against Kimi K3; see ``make_agent`` for the one-line change.

    python examples/quickstart.py            # scripted, offline
    MOONSHOT_API_KEY=sk-... python examples/quickstart.py --live   # the real model
"""

from __future__ import annotations

import sys

from rich.console import Console

from agentkit import Agent, AgentEvent, ConfigurationError, tool
from agentkit.testing import FakeProvider, Turn, call

console = Console()

# A small offline dataset the tool serves (population in millions, UN WPP 2024 estimates).
POPULATION = {
    ("japan", 2000): 126.8,
    ("japan", 2024): 123.8,
    ("nigeria", 2000): 122.9,
    ("nigeria", 2024): 232.7,
}


@tool
def population(country: str, year: int) -> str:
    """Population of a country in a given year, in millions.

    Args:
        country: Country name in English, e.g. "Japan".
        year: Calendar year (2000 or 2024 in this demo dataset).
    """
    value = POPULATION.get((country.lower(), year))
    if value is None:
        return f"No data for {country} in {year}. Known: " + ", ".join(f"{c} {y}" for c, y in POPULATION)
    return f"{country} {year}: {value} million"


@tool
def percent_change(old: float, new: float) -> str:
    """Percentage change from old to new."""
    return f"{(new - old) / old * 100:.1f}%"


def make_agent(base_url: str | None, live: bool) -> Agent:
    if live:
        return Agent(provider="moonshot", tools=[population, percent_change], max_steps=20)
    return Agent(
        provider="moonshot", base_url=base_url, api_key="scripted", tools=[population, percent_change], max_steps=20
    )


SCRIPT = [
    Turn(
        reasoning="I should get both populations for both years, then compute changes.",
        content="1. Look up Japan and Nigeria in 2000 and 2024.\n2. Compute the % change for each.\n"
        "3. Compare and answer.",
    ),
    Turn(
        reasoning="Four independent lookups: do them in one turn.",
        tool_calls=[
            call("population", country="Japan", year=2000),
            call("population", country="Japan", year=2024),
            call("population", country="Nigeria", year=2000),
            call("population", country="Nigeria", year=2024),
        ],
    ),
    Turn(
        reasoning="Now the percentage changes.",
        tool_calls=[call("percent_change", old=126.8, new=123.8), call("percent_change", old=122.9, new=232.7)],
    ),
    Turn(
        reasoning="Japan shrank by 2.4%, Nigeria grew by 89.3%.",
        content="From 2000 to 2024 Japan's population fell 2.4% (126.8 → 123.8 million) while "
        "Nigeria's grew 89.3% (122.9 → 232.7 million), so Nigeria went from slightly smaller "
        "than Japan to nearly twice its size.",
    ),
]


def show(event: AgentEvent) -> None:
    if event.kind == "turn_started":
        console.print(f"[bold cyan]── {event.phase} turn {event.step}[/]")
    elif event.kind == "tool_call":
        console.print(f"  [yellow]→ {event.call.name}[/] {event.call.arguments}")
    elif event.kind == "tool_result":
        console.print(f"  [green]← {event.preview}[/]")
    elif event.kind == "usage":
        console.print(
            f"  [dim]{event.turn.prompt_tokens} prompt tokens, "
            f"{event.turn.cached_tokens} cached, ${event.cost_usd:.5f} so far[/]"
        )


def main() -> None:
    live = "--live" in sys.argv
    question = "How did the populations of Japan and Nigeria change between 2000 and 2024?"
    if live:
        try:
            agent = make_agent(None, live=True)
        except ConfigurationError as exc:  # no API key: one line, not a traceback
            sys.exit(f"quickstart: {exc}")
        result = agent.run_sync(question, on_event=show)
    else:
        console.print(
            "[bold magenta]SCRIPTED DEMO[/] — the model is agentkit's fake provider replaying a "
            "fixed trajectory; no API key, no network.\n"
        )
        with FakeProvider(SCRIPT) as fake:
            result = make_agent(fake.base_url, live=False).run_sync(question, on_event=show)
    console.print(
        f"\n[bold]Plan[/]\n{result.plan}\n\n[bold]Answer[/] ({result.status}, {result.steps} steps, "
        f"{result.tool_calls} tool calls)\n{result.answer}"
    )
    sys.exit(0 if result.status == "finished" else 1)


if __name__ == "__main__":
    main()
