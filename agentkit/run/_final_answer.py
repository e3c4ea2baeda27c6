"""How the run loop ends with an answer: with an output type, the answer is checked against it
and asked for once more when it does not match (the rules are in :mod:`agentkit.run._output`).

A base of the loop in :mod:`agentkit.run.agent` (``_RunLoop``), beside its model-facing half.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentkit.run._model_calls import ModelCalls
from agentkit.run._output import RETRY_KIND, Checked, OutputInvalid, answer_text
from agentkit.run._runs import CUT_OFF, unfinished_reply
from agentkit.run.live import Notice
from agentkit.store.events import AssistantMessage, RunStatus, ToolResultEvent, UserMessage
from agentkit.vocabulary import AssistantTurn

FINAL_REQUEST = "final_request"


class FinalAnswers(ModelCalls):
    """The answer-facing half of a run loop (see the module docstring)."""

    if TYPE_CHECKING:

        async def finish(
            self, status: RunStatus, answer: str, stop_reason: str | None = None, output: Any = None
        ) -> None: ...

        async def fail(self, kind: str, message: str) -> None: ...

        def elapsed(self) -> float: ...

    async def conclude(
        self, turn: AssistantTurn, *, status: RunStatus = "finished", stop_reason: str | None = None
    ) -> None:
        """End the run with ``turn``'s answer; with an output type, only with an answer that
        matches it: an answer that does not gets one re-ask (the run goes on: the loop sees the
        :data:`RETRY_KIND` message), and after the re-ask the run fails."""
        contract = self.agent.output_contract
        if contract is None:
            await self.finish(status, turn.content, stop_reason)
            return
        try:
            checked = self.checked(turn)
        except OutputInvalid as exc:
            if self.state.notice_given(RETRY_KIND):
                message = f"the final answer does not match the output schema after one re-ask:\n{exc}"
                await self.fail("OutputInvalid", message)
                return
            await self.commit(UserMessage(text=contract.retry_prompt(exc), kind=RETRY_KIND, reason=str(exc)))
            await self.emit(
                Notice(
                    run_id=self.run_id,
                    level="warning",
                    message=f"the final answer does not match the output schema; asking once more:\n{exc}",
                )
            )
            return
        await self.finish(status, answer_text(checked.data), stop_reason, output=checked.data)

    def checked(self, turn: AssistantTurn) -> Checked:
        """``turn``'s answer validated (a reply cut off by ``max_tokens`` is never one, even when
        what arrived can be repaired into JSON that fits). Raises :class:`OutputInvalid`."""
        contract = self.agent.output_contract
        assert contract is not None
        if unfinished_reply(turn) == CUT_OFF:
            raise OutputInvalid("- the reply was cut off by the output limit before it ended")
        return contract.check(turn.content)

    async def retry_turn(self) -> None:
        """The one re-ask: the schema sent as ``response_format`` where the host takes it, tools
        offered but not to be called (``tool_choice: none``, as on the final turn at a limit, so
        the prompt's prefix stays the one the provider cached)."""
        contract = self.agent.output_contract
        assert contract is not None
        turn = await self.model_turn(phase="final", tool_choice="none", response_schema=contract.request_schema)
        step = self.state.step + 1
        await self.commit(AssistantMessage(step=step, turn=turn, elapsed_s=self.elapsed(), sent=self.sent))
        await self.refuse_calls(step, turn, "Not run: only the final answer was asked for.")
        status, reason = self.answer_ending()
        await self.conclude(turn, status=status, stop_reason=reason)

    async def refuse_calls(self, step: int, turn: AssistantTurn, text: str) -> None:
        """Tool calls of a turn that was asked for no tools get an error result: a call is never
        left unanswered in the trace."""
        for call in turn.tool_calls:
            await self.commit(
                ToolResultEvent(step=step, call_id=call.id, name=call.name, is_error=True, text=text, effects=0)
            )

    def answer_ending(self) -> tuple[RunStatus, str | None]:
        """How a run that answers now ends: ``stopped`` (and why) once a limit asked for its final
        answer, else ``finished``."""
        for notices in (self.state.head_notices, *(r.notices for r in self.state.records)):
            for notice in notices:
                if notice.kind == FINAL_REQUEST:
                    return "stopped", notice.reason or "limit"
        return "finished", None

    def valid_output(self, answer: str) -> Any:
        """The output of a run a limit stopped without a final turn: its best answer's JSON when
        that matches the output type, else ``None``."""
        contract = self.agent.output_contract
        if contract is None or not answer.strip():
            return None
        try:
            return contract.check(answer).data
        except OutputInvalid:
            return None
