"""The running view: each request's messages are built on the previous request's (the same
objects for what did not change), and the builder says how many leading messages two views
share, so a request's record (message digests, for ``agentkit replay``) costs what is new.
Whatever the sequence (turns added, the latest turn shown before its results and again after,
notices, new cuts), the shared count and the digests built on it equal a fresh computation."""

from __future__ import annotations

from agentkit.context.builder import ContextBuilder, View, ViewMark
from agentkit.context.policy import ViewCut
from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.run._sent import MessageDigests, digest
from agentkit.store.events import AssistantMessage, RunStarted, ToolResultEvent, UserMessage
from agentkit.store.fold import RunState


def builder() -> ContextBuilder:
    return ContextBuilder(system_prompt="s", reasoning_field="reasoning_content", window=1_000_000)


def turn(state: RunState, i: int, *, results: bool = True) -> None:
    call = ToolCall(id=f"c{i}", name="read", arguments=f'{{"n": {i}}}', parsed={"n": i})
    state.apply(AssistantMessage(step=i, turn=AssistantTurn(reasoning=f"r{i}", tool_calls=[call])))
    if results:
        result(state, i)


def result(state: RunState, i: int) -> None:
    state.apply(ToolResultEvent(step=i, call_id=f"c{i}", name="read", text=f"page {i} " * 50))


def shared(a: View, b: View) -> int:
    n = 0
    for x, y in zip(a.messages, b.messages, strict=False):
        if x is not y:
            break
        n += 1
    return n


class Requests:
    """Views as the loop sends them: each digested on the one before, checked against a fresh digest."""

    def __init__(self, b: ContextBuilder) -> None:
        self.b, self.digests = b, MessageDigests()
        self.last: View | None = None
        self.mark: ViewMark | None = None

    def send(self, view: View) -> int:
        unchanged = self.b.unchanged(self.mark, view.mark)
        if self.last is not None:
            assert unchanged <= shared(self.last, view)  # never more than the objects really shared
        digests, kept = self.digests.of(view.messages, unchanged)
        assert digests == [digest(m) for m in view.messages]
        assert kept == unchanged
        self.last, self.mark = view, view.mark
        return unchanged


def test_a_growing_view_shares_all_of_the_previous_one() -> None:
    state, b = RunState(run_id="r"), builder()
    state.apply(RunStarted(task="t"))
    sent = Requests(b)
    before = 0
    for i in range(1, 6):
        turn(state, i)
        view = b.render(state, ViewCut())
        assert sent.send(view) == before  # everything the previous request had
        before = len(view.messages)


def test_the_latest_turn_shown_before_its_result_is_not_counted_as_shared() -> None:
    """A view taken while the latest turn waits for its result (telemetry renders one), then the
    request after the result came: the turn was taken back and shown again, as new objects."""
    state, b = RunState(run_id="r"), builder()
    state.apply(RunStarted(task="t"))
    sent = Requests(b)
    turn(state, 1)
    first = b.render(state, ViewCut())
    sent.send(first)
    turn(state, 2, results=False)
    half = b.render(state, ViewCut())  # shows turn 2 without its result
    assert len(half.messages) == len(first.messages) + 1
    assert b.unchanged(first.mark, half.mark) == len(first.messages)
    result(state, 2)
    full = b.render(state, ViewCut())
    assert len(full.messages) == len(first.messages) + 2
    assert b.unchanged(half.mark, full.mark) == len(first.messages)  # turn 2's assistant message went back
    assert sent.send(full) == len(first.messages)
    state.apply(UserMessage(text="a notice after turn 2", kind="wrap_up"))
    with_notice = b.render(state, ViewCut())
    assert sent.send(with_notice) == len(first.messages)  # turn 2 was shown again, with the notice
    turn(state, 3)
    assert sent.send(b.render(state, ViewCut())) == len(with_notice.messages)


def test_a_new_cut_shares_nothing_but_reuses_the_turns_it_shows_the_same_way() -> None:
    state, b = RunState(run_id="r"), builder()
    state.apply(RunStarted(task="t"))
    sent = Requests(b)
    for i in range(1, 9):
        turn(state, i)
    before = b.render(state, ViewCut())
    sent.send(before)
    cut = ViewCut(hide_before=4)
    after = b.render(state, cut)
    assert sent.send(after) == 0  # another cut: its head is new
    assert after.messages == builder().render(state, cut).messages  # as a fresh builder renders it
    reused = {id(m) for m in before.messages} & {id(m) for m in after.messages}
    assert len(reused) == 2 * 4  # the last four turns (shown as before); the head and turns 0..3 are new
    hidden = [m for m in after.messages if m.get("role") == "tool" and "hidden" in str(m.get("content"))]
    assert len(hidden) == 4 and all(id(m) not in {id(x) for x in before.messages} for m in hidden)
    summarised = ViewCut(hide_before=6, drop_before=3, summary="pages 1-3 read")
    assert sent.send(b.render(state, summarised)) == 0
    assert b.render(state, summarised).messages == builder().render(state, summarised).messages
    turn(state, 9, results=False)
    b.render(state, summarised)  # turn 9 shown while its result is pending
    result(state, 9)
    later = ViewCut(hide_before=8, drop_before=3, summary="pages 1-3 read")
    assert sent.send(b.render(state, later)) == 0
    assert sent.last is not None and sent.last.messages == builder().render(state, later).messages  # with the result
