"""The terminal front door: renders answers for `advisor ask` and runs the `advisor chat` conversation."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.text import Text

from engine.messages import labels
from engine.models import Answer, Turn

EXIT_WORDS = {"exit", "quit", "q", ":q", "bye"}

log = logging.getLogger(__name__)


def render(answer: Answer):
    label = labels(answer.language)
    parts = [Markdown(answer.answer)]
    if answer.citations:
        parts.append(Text(f"\n{label['sources']}", style="bold"))
        for c in answer.citations:
            where = f"p. {c.page}" if c.page is not None else c.section
            line = Text(f"[{c.n}] ", style="bold")
            line.append(f"{c.title} — {where} ")
            line.append(f"({c.source})", style="dim")
            for source in c.sources:
                line.append(f"\n    {source.title}" + (f", {source.page}" if source.page else ""))
                if source.url:
                    line.append(f"\n      {source.url}", style="blue")
            if c.reading:
                line.append(f"\n    ({label['our_reading']})", style="italic")
            if not c.sources and c.url:
                line.append(f"\n    {c.url}", style="blue")
            parts.append(line)
    return Group(*parts)


def chat(advisor, console: Console, ask_input=input, on_answer: Callable[[Answer], None] | None = None) -> None:
    """An interactive conversation; earlier turns inform follow-up questions. Empty line or `exit` ends it.
    `on_answer` sees every answer (the question log)."""
    console.print("[bold]Collective Impact Advisor[/] — ask about Collective Impact for urban security and social "
                  "cohesion. Type [bold]exit[/] to leave.\n")
    history: list[Turn] = []
    while True:
        try:
            question = ask_input("You: ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not question or question.lower() in EXIT_WORDS:
            return
        if question.lower() in {"new", "/new", "reset"}:
            history.clear()
            console.print("[dim]New conversation.[/]\n")
            continue
        try:
            answer = advisor.ask(question, history=history, id=uuid.uuid4().hex)
            if on_answer is not None:
                on_answer(answer)
        except Exception:  # the conversation goes on; the log has the details under the reference
            reference = uuid.uuid4().hex[:8]
            log.exception("Answering failed (reference %s)", reference)
            console.print(f"[red]Sorry, something went wrong while answering (reference {reference}). "
                          "Please try again.[/]\n")
            continue
        console.print(render(answer))
        console.print()
        history.append(Turn(question=question, answer=answer.answer))
