"""The planner-executor loop.

A run is a log of events in a store. The loop reads the state as a fold over that log,
asks the model for a turn, commits the turn before any tool runs, runs the turn's tools
concurrently and commits each result as it completes, and repeats until a turn has no tool
calls (its content is the answer) or a limit is reached. Resuming is the same loop started
on an existing log.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import orjson

from agentkit._redact import mask_secrets, redact_config
from agentkit.context.builder import ContextBuilder, learned_window
from agentkit.context.images import ImageSource, load_images, sees_images
from agentkit.context.policy import BatchPrune, ContextPolicy
from agentkit.context.videos import VideoSource, check_fits, load_videos, sees_videos
from agentkit.llm._tool_wire import tools_over_limit
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.errors import ConfigurationError, ModelError
from agentkit.llm.profiles import keeps_reasoning_by_default
from agentkit.llm.types import Model
from agentkit.run._collector import paced_collector, step_done
from agentkit.run._ensemble import ensembles
from agentkit.run._final_answer import FINAL_REQUEST, FinalAnswers
from agentkit.run._limits import (
    WRAP_UP_PROMPT,
    LimitReached,
    RunLimits,
    SharedBudget,
    default_max_prompt_tokens,
    prices_of,
)
from agentkit.run._model_calls import reasoning_retention
from agentkit.run._output import RETRY_KIND, OutputContract
from agentkit.run._prompts import FINAL_ANSWER_PROMPT, system_prompt
from agentkit.run._report_phase import report_phase
from agentkit.run._runs import ASK_AGAIN_PROMPTS, MAX_UNFINISHED_REPLIES, RunBook, never_left_running, unfinished_reply
from agentkit.run._runs import RunResult as RunResult  # `from agentkit.run.agent import RunResult` works too
from agentkit.run.live import (
    EventHandler,
    Notice,
    PlanMade,
    RunEnded,
    ToolCallFinished,
    ToolCallStarted,
    ToolProgress,
    plan_events,
    run_began,
)
from agentkit.run.planner import NoteTool, UpdatePlanTool, plan_from_turn, planning_messages
from agentkit.store.base import Store
from agentkit.store.events import (
    AssistantMessage,
    PlanUpdated,
    RunInfo,
    RunStarted,
    RunStatus,
    UserMessage,
)
from agentkit.store.fold import RunState, load_state
from agentkit.store.memory import MemoryStore
from agentkit.task.mcp_servers import MCPServerSpec
from agentkit.task.sections import (
    HeavySpec,
    LimitsSpec,
    MemorySpec,
    ToolSettings,
    default_tools,
    settings_section,
)
from agentkit.tools.base import Tool, ToolContext, ToolRegistry, ToolResult, ToolsUnavailable
from agentkit.tools.recall import RecallTool, check_memory


class Agent:
    """A research agent: ``await Agent(...).run("question")``.

    ``tools=None`` gives the built-ins (web_search, fetch, python); pass a list of tools or
    ``@tool`` functions to choose. ``store`` keeps the trace (default: in memory; pass a
    SQLiteStore to make runs resumable across processes). ``llm`` replaces the HTTP client
    with any :class:`~agentkit.llm.types.Model` (e.g. ``agentkit.testing.ScriptedModel``).

    Run limits come as the task file's section, ``limits=LimitsSpec(max_cost_usd=2.0)``, or as
    keywords (``max_steps``, ``max_cost_usd``, ``max_run_tokens`` for the whole run's tokens,
    ``max_seconds``); ``max_tokens`` is the model's output cap per call, as ``model.max_tokens``
    in a task file. ``settings`` holds the tool sections (``search``, ``fetch``, ``sandbox``) as
    a mapping or :class:`~agentkit.task.sections.ToolSettings`, checked here. ``mcp`` lists MCP servers
    (:class:`~agentkit.task.mcp_servers.MCPServerSpec` or the task file's dicts) whose tools each run
    starts with. ``memory`` names earlier runs the ``recall`` tool searches too (a
    :class:`~agentkit.task.sections.MemorySpec` or ``{"runs": [...]}`` / ``{"tag": NAME}``).

    ``output_type`` (a pydantic model, or any type pydantic validates) or ``output_schema`` (a
    JSON schema, as the task file's ``output.schema``) makes the final answer structured:
    ``result.output`` is the validated object (see :mod:`agentkit.run._output`).
    """

    def __init__(
        self,
        model: str | None = None,
        provider: str = "moonshot",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        tools: Sequence[Tool | Any] | None = None,
        max_steps: int = 300,
        instructions: str | None = None,
        plan: bool = True,
        store: Store | None = None,
        llm: Model | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        workdir: str | Path = ".agentkit/runs",
        settings: ToolSettings | Mapping[str, Any] | None = None,
        on_event: EventHandler | None = None,
        task_spec: dict[str, Any] | None = None,
        context_window: int | None = None,
        keep_tool_results: int | None = None,
        context_policy: ContextPolicy | None = None,
        max_prompt_tokens: int | None = None,
        max_cost_usd: float | None = None,
        max_run_tokens: int | None = None,
        max_seconds: float | None = None,
        limits: LimitsSpec | None = None,
        heavy: int = 1,
        aggregate: str = "reflective",
        early_stop: float | None = None,
        delegate: bool = False,
        report: bool = False,
        mcp: Sequence[MCPServerSpec | Mapping[str, Any]] = (),
        memory: MemorySpec | Mapping[str, Any] | None = None,
        output_type: Any = None,
        output_schema: Mapping[str, Any] | None = None,
    ) -> None:
        self.limits = RunLimits.chosen(limits, max_steps, max_cost_usd, max_run_tokens, max_seconds)
        self.llm: Model = llm or OpenAICompatibleModel(
            model,
            provider,
            base_url=base_url,
            api_key=api_key,
            api_key_env=api_key_env,
            preserve_thinking=keeps_reasoning_by_default(model, provider),
        )
        self.max_steps = self.limits.max_steps
        self.instructions = instructions
        self.plan_first = plan
        self.store = store or MemoryStore()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.workdir = Path(workdir)
        if memory is not None:
            spec = settings_section({"memory": memory}, "memory", MemorySpec)
            settings = ToolSettings({**ToolSettings.of(settings), "memory": spec})
        self.settings = ToolSettings.of(settings).validated()  # a bad section fails here, once
        self.on_event = on_event
        self._api_key_env = api_key_env
        self._task_spec = task_spec
        self.context_window = self.llm.profile.window_for(context_window, self.llm.model_name)
        self.window_declared = context_window is not None
        self.keep_tool_results = keep_tool_results
        self.context_policy = context_policy
        if max_prompt_tokens is not None and max_prompt_tokens < 1:
            raise ValueError(f"max_prompt_tokens must be positive, not {max_prompt_tokens}")
        self.max_prompt_tokens = max_prompt_tokens or default_max_prompt_tokens(prices_of(self.llm))
        """The cost target: no request's prompt is larger (``None``: the window is the only bound)."""
        ensemble = HeavySpec.model_validate({"trajectories": heavy, "aggregate": aggregate})  # as in a task file
        self.heavy, self.aggregate, self.early_stop = ensemble.trajectories, ensemble.aggregate, early_stop
        self.writes_report = report
        self.output_contract = OutputContract.of(output_type, output_schema)
        self.shared_budget: SharedBudget | None = None
        self.tools = ToolRegistry(self._default_tools() if tools is None else tools)
        self.mcp_servers = [MCPServerSpec.of(m) for m in mcp]  # their tools join when a run starts
        if self.mcp_servers:
            from agentkit.tools.mcp import MCPTools

            self.tools.add_source(MCPTools(self.mcp_servers))
        if plan and "update_plan" not in self.tools:
            self.tools.add(UpdatePlanTool())
        if "note" not in self.tools:
            self.tools.add(NoteTool())
        if self.settings.memory.active and "recall" not in self.tools:
            self.tools.add(RecallTool())  # memory is there to be recalled
        if delegate and "delegate" not in self.tools:
            self.tools.add(ensembles().delegate_tool(self))
        too_many = tools_over_limit(self.llm, len(self.tools.names))
        if too_many is not None:  # refused now, before a run starts (MCP tools are counted when they join)
            raise ConfigurationError(too_many)

    def _default_tools(self) -> list[Tool]:
        from agentkit.tools import builtin_tools

        names = default_tools(self.max_steps, self.keep_tool_results, memory=self.settings.memory.active)
        return builtin_tools(self.settings, names=names)

    async def run(
        self,
        task: str,
        *,
        on_event: EventHandler | None = None,
        run_id: str | None = None,
        parent_id: str | None = None,
        label: str | None = None,
        images: Sequence[ImageSource] = (),
        videos: Sequence[VideoSource] = (),
    ) -> RunResult:
        """Start a new run of ``task`` and drive it to the end. ``images`` (paths, URLs or
        bytes) go with the task: checked, downscaled and stored when the run starts, shown to a
        vision model as image parts and named in text to any other. A bad image raises
        :class:`~agentkit.context.images.ImageError` before the run is created. ``videos``
        likewise: checked and stored unchanged, shown to a model that takes video as video
        parts; a bad one raises :class:`~agentkit.context.videos.VideoError`."""
        run_id = run_id or uuid.uuid4().hex[:12]
        on_event = on_event or self.on_event
        async with self.store.lease(run_id), never_left_running(self.store, run_id):
            await check_memory(self.store, self.settings.memory)
            private = self.settings.fetch.allow_private_hosts
            refs = await load_images(self.store, images, allow_private=private)
            clips = await load_videos(self.store, videos, allow_private=private)
            if sees_videos(self.llm):
                check_fits(clips, self.context_window)
            if self.heavy > 1:
                result = await ensembles().run_heavy(
                    self, task, run_id=run_id, on_event=on_event, resumed=False, images=refs, videos=clips
                )
                return self._typed(await self._with_report(result, on_event))
            config = self.describe()
            config["system_prompt"] = self.system_prompt()
            tags = self.settings.memory.own_tags if parent_id is None else []
            await self.store.create_run(
                RunInfo(id=run_id, task=task, parent_id=parent_id, label=label, config=config, tags=tags)
            )
            book = RunBook(self.store, RunState(run_id=run_id))
            await book.start(RunStarted(task=task, config=config, images=refs, videos=clips))
            result = await self._drive(run_id, on_event, resumed=False, state=book.state)
            return self._typed(await self._with_report(result, on_event))

    async def resume(self, run_id: str, *, on_event: EventHandler | None = None) -> RunResult:
        """Continue a run from its trace: unanswered tool calls are run, then the loop goes on.

        Raises :class:`~agentkit.store.RunBusy` (and changes nothing) while another process
        or task is driving the same run.
        """
        on_event = on_event or self.on_event
        async with self.store.lease(run_id), never_left_running(self.store, run_id):
            if int((await self.store.get_run(run_id)).config.get("heavy", 1)) > 1:
                result = await ensembles().run_heavy(self, "", run_id=run_id, on_event=on_event, resumed=True)
            else:
                result = await self._drive(run_id, on_event, resumed=True)
            return self._typed(await self._with_report(result, on_event))

    def system_prompt(self) -> str:
        """The system prompt a run starts with (the output schema in it, with an output type)."""
        prompt = system_prompt(self.instructions)
        contract = self.output_contract
        return f"{prompt}\n\n{contract.instructions()}" if contract is not None else prompt

    def _typed(self, result: RunResult) -> RunResult:
        """``result`` with its output (stored as JSON) as an instance of the output type."""
        contract = self.output_contract
        if contract is None or contract.adapter is None or result.output is None:
            return result
        return result.model_copy(update={"output": contract.typed(result.output)})

    async def fork(
        self,
        run_id: str,
        at_step: int,
        *,
        model: str | None = None,
        instructions: str | None = None,
        on_event: EventHandler | None = None,
        fork_id: str | None = None,
    ) -> RunResult:
        """A new run whose first ``at_step`` steps are ``run_id``'s (shared by reference in the
        store, not copied), going on with this agent's settings (``model``: another model of
        the same client; ``instructions``: a new system prompt): the model is asked from step
        ``at_step + 1``. Resumable like any run. Raises :class:`~agentkit.run._fork.ForkError`
        for a run that cannot be forked there."""
        from agentkit.run._fork import fork_run

        return self._typed(
            await fork_run(
                self, run_id, at_step, model=model, instructions=instructions, on_event=on_event, fork_id=fork_id
            )
        )

    async def _with_report(self, result: RunResult, on_event: EventHandler | None) -> RunResult:
        """The report phase (``report=True``), within the run's limits and charged to it."""
        if not self.writes_report:
            return result
        return await report_phase(
            self.store, self.llm, self.limits, self.max_tokens, self.context_window, result, on_event
        )

    def run_sync(self, task: str, **kwargs: Any) -> RunResult:
        async def main() -> RunResult:
            try:
                return await self.run(task, **kwargs)
            finally:
                await self.aclose()

        return anyio.run(main)

    async def aclose(self) -> None:
        await self.tools.aclose()
        await self.llm.aclose()

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def describe(self) -> dict[str, Any]:
        """The configuration stored with each run (no secrets: key variable names only, and
        credentials inside URLs or under secret-looking setting names masked)."""
        config = {
            "provider": self.llm.profile.name,
            "model": self.llm.model_name,
            "base_url": getattr(self.llm, "base_url", None),
            "api_key_env": self._api_key_env,
            "tools": self.tools.names,
            "max_steps": self.max_steps,
            "plan": self.plan_first,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "context_window": self.context_window,
            "keep_tool_results": self.keep_tool_results,
            "max_prompt_tokens": self.max_prompt_tokens,
            "limits": self.limits.model_dump(),
            "heavy": self.heavy,
            "aggregate": self.aggregate,
            "early_stop": self.early_stop,
            "settings": self.settings.as_data(),
            "task_spec": self._task_spec,
            "mcp": [s.as_data() for s in self.mcp_servers],
        }
        return dict(redact_config(config))

    # the loop
    async def _drive(
        self, run_id: str, on_event: EventHandler | None, *, resumed: bool, state: RunState | None = None
    ) -> RunResult:
        if state is None:  # a new run's state is what its first commit folded: reading it back is the same
            state = await load_state(self.store, run_id)
        if not state.task and not state.records:  # killed between creating the row and its first event
            row = await self.store.get_run(run_id)
            if row.task:
                await RunBook(self.store, state).commit(RunStarted(task=row.task, config=row.config))
        loop = _RunLoop(self, state, on_event)
        if state.finished is not None:
            fin = state.finished
            if (await self.store.get_run(run_id)).status != fin.status:  # died before the row was updated
                await loop.book.sync_row(status=fin.status, answer=fin.answer, stop_reason=fin.stop_reason)
            return loop.result()
        for began in run_began(run_id, state.task, state.plan, self.llm, resumed=resumed, max_steps=self.max_steps):
            await loop.emit(began)
        if resumed:
            await loop.book.resumed()
        try:
            with paced_collector():
                await loop.execute()
        except LimitReached as exc:
            await loop.finish("stopped", loop.best_answer(), stop_reason=str(exc))
        except (ModelError, ToolsUnavailable) as exc:
            await loop.fail(type(exc).__name__, str(exc))
        # A cancellation, Ctrl-C, a refused write or a bug goes on to run()/resume(), whose
        # never_left_running settles the run (interrupted, or failed for a bug).
        finally:
            with anyio.CancelScope(shield=True):
                await self.tools.close_run(run_id)
        return loop.result()


class _RunLoop(FinalAnswers):
    """One run being driven; small enough to read as a story of the steps."""

    def __init__(self, agent: Agent, state: RunState, on_event: EventHandler | None) -> None:
        self.agent = agent
        self.state = state
        self.on_event = on_event
        self.run_id = state.run_id
        self.store = agent.store
        profile = agent.llm.profile
        self.context = ContextBuilder(
            system_prompt=state.config.get("system_prompt") or agent.system_prompt(),
            reasoning_field=profile.reasoning_field,
            window=learned_window(state, agent.context_window),
            max_tokens=agent.max_tokens,
            default_max_tokens=profile.default_max_tokens,
            policy=agent.context_policy or BatchPrune(keep=agent.keep_tool_results or 10),
            tools_bytes=len(orjson.dumps(agent.tools.schemas())),
            vision=sees_images(agent.llm),
            recall="recall" in agent.tools,
            video=sees_videos(agent.llm),
            retention=reasoning_retention(agent.llm),
            max_prompt_tokens=agent.max_prompt_tokens,
        )
        self.book = RunBook(agent.store, state)
        self.workdir = (agent.workdir / self.run_id).resolve()
        """The run's work dir, resolved once: every step's tools get the same one."""
        self.started = time.monotonic()
        self.usage_estimated = False
        self.elapsed_base = state.elapsed_s

    async def execute(self) -> None:
        state, agent = self.state, self.agent
        await self.open_tools()
        await self.probe_window()
        if agent.plan_first and state.plan_event is None and not state.records:
            await self.make_plan()
        if state.pending_calls:
            await self.run_tools(state.records[-1].event.step, state.pending_calls, replay=True)
        if await self.finish_with_committed_answer():
            return
        while state.finished is None:
            notice = state.last_notice
            if notice is not None and notice.kind == FINAL_REQUEST:
                await self.final_turn(notice)
                continue  # ended, unless its answer missed the output schema: then the re-ask
            if notice is not None and notice.kind == RETRY_KIND and agent.output_contract is not None:
                await self.retry_turn()
                continue
            if state.step >= agent.max_steps:
                await self.request_final_answer(f"max_steps={agent.max_steps}")
                continue
            shared = agent.shared_budget
            over = agent.limits.exceeded(state, self.elapsed(), cost=shared.spent if shared else None)
            if over:
                await self.finish("stopped", self.best_answer(), stop_reason=over)
                return
            near = agent.limits.near(state, self.elapsed())
            if near and not state.notice_given("wrap_up"):
                await self.commit(UserMessage(text=WRAP_UP_PROMPT.format(reason=near), kind="wrap_up", reason=near))
                await self.emit(Notice(run_id=self.run_id, level="warning", message=f"near a limit: {near}"))
            turn = await self.model_turn(phase="execute")
            step = state.step + 1
            await self.commit(AssistantMessage(step=step, turn=turn, elapsed_s=self.elapsed(), sent=self.sent))
            if turn.tool_calls:
                await self.run_tools(step, turn.tool_calls, replay=False)
                step_done()
                continue
            unfinished = unfinished_reply(turn)
            if unfinished is None:
                await self.conclude(turn)  # ends the run, or asks once more for the output schema
                continue
            await self.ask_again(unfinished)

    async def finish_with_committed_answer(self) -> bool:
        """A run that died after committing its answer turn, before finishing: finish with that
        turn (as the loop would have) instead of asking the model again."""
        records = self.state.records
        if not records or records[-1].notices or records[-1].event.turn.tool_calls:
            return False
        turn = records[-1].event.turn
        before = records[-2].notices if len(records) > 1 else self.state.head_notices
        retry = self.agent.output_contract is not None and any(n.kind == RETRY_KIND for n in before)
        if retry or any(n.kind == FINAL_REQUEST for n in before):
            status, reason = self.answer_ending()
            await self.conclude(turn, status=status, stop_reason=reason)
        elif unfinished_reply(turn) is None:
            await self.conclude(turn)
        else:
            return False
        return self.state.finished is not None  # not yet when the answer missed the schema: the re-ask

    async def open_tools(self) -> None:
        """Tools that start with the run (MCP servers) are ready, and listed, before the first model call."""
        ctx = ToolContext(self.run_id, "", self.state.step, self.store, self.workdir, self.agent.settings)
        for warning in await self.agent.tools.open_run(self.run_id, ctx):
            await self.emit(Notice(run_id=self.run_id, level="warning", message=warning))
        too_many = tools_over_limit(self.agent.llm, len(self.agent.tools.names))
        if too_many is not None:  # the MCP servers' tools joined: still within the model's limit?
            raise ToolsUnavailable(too_many)
        self.context.tools_bytes = len(orjson.dumps(self.agent.tools.schemas()))

    async def ask_again(self, problem: str) -> None:
        """A reply cut off by ``max_tokens`` or empty is no answer: ask again, a few times in a row at most."""
        in_a_row = 0
        for record in reversed(self.state.records):
            if record.event.turn.tool_calls:
                break
            in_a_row += 1
        if in_a_row > MAX_UNFINISHED_REPLIES:
            answer = self.best_answer()
            reason = f"the model's last {in_a_row} replies were {problem}"
            await self.finish("stopped" if answer.strip() else "failed", answer, stop_reason=reason)
            return
        await self.commit(UserMessage(text=ASK_AGAIN_PROMPTS[problem], kind="ask_again", reason=problem))
        await self.emit(
            Notice(run_id=self.run_id, level="warning", message=f"the model's reply was {problem}; asking again")
        )

    async def make_plan(self) -> None:
        turn = await self.call_fitting(lambda: planning_messages(self.context.head(self.state)), phase="plan")
        plan = PlanUpdated(plan=plan_from_turn(turn), reason="initial", turn=turn)
        await self.commit(plan)
        await self.emit(PlanMade(run_id=self.run_id, plan=plan.plan))

    def elapsed(self) -> float:
        return self.elapsed_base + (time.monotonic() - self.started)

    async def run_tools(self, step: int, calls: Sequence[Any], *, replay: bool) -> None:
        agent, workdir, watched = self.agent, self.workdir, self.on_event is not None
        for call in calls if watched else ():  # live events are made only for someone to see
            await self.emit(ToolCallStarted(run_id=self.run_id, step=step, call=call))

        def make_ctx(call: Any) -> ToolContext:
            async def progress(done: float, total: float | None, message: str | None) -> None:
                await self.emit(
                    ToolProgress(
                        run_id=self.run_id,
                        step=step,
                        call_id=call.id,
                        name=call.name,
                        progress=done,
                        total=total,
                        message=message,
                    )
                )

            return ToolContext(
                run_id=self.run_id,
                call_id=call.id,
                step=step,
                store=self.store,
                workdir=workdir,
                settings=agent.settings,
                replay=replay,
                progress=progress,
            )

        async def on_result(result: ToolResult) -> None:
            # The call's effects, then its result, in one append (one transaction where the
            # store has them): the result is what makes the effects count (see ToolEffect).
            events = result.events(step)
            await self.book.commit_many(events)
            if not watched:
                return
            for plan in plan_events(self.run_id, events):
                await self.emit(plan)
            out = result.output
            await self.emit(
                ToolCallFinished(
                    run_id=self.run_id,
                    step=step,
                    call_id=result.call.id,
                    name=result.call.name,
                    preview=mask_secrets(out.text)[:200],  # masked before it is cut: no half key
                    is_error=out.is_error,
                    duration_s=result.duration_s,
                )
            )

        await agent.tools.execute_all(calls, make_ctx, on_result)

    async def request_final_answer(self, reason: str) -> None:
        text = FINAL_ANSWER_PROMPT.format(reason=reason)
        await self.commit(UserMessage(text=text, kind="final_request", reason=reason))
        await self.emit(Notice(run_id=self.run_id, level="warning", message=f"limit reached: {reason}"))

    async def final_turn(self, notice: UserMessage) -> None:
        reason = notice.reason or "limit"
        contract = self.agent.output_contract
        schema = contract.request_schema if contract is not None else None
        turn = await self.model_turn(phase="final", tool_choice="none", response_schema=schema)
        step = self.state.step + 1
        await self.commit(AssistantMessage(step=step, turn=turn, elapsed_s=self.elapsed(), sent=self.sent))
        await self.refuse_calls(step, turn, "Not run: the step limit was reached.")
        await self.conclude(turn, status="stopped", stop_reason=reason)

    async def finish(self, status: RunStatus, answer: str, stop_reason: str | None = None, output: Any = None) -> None:
        if output is None and status == "stopped":
            output = self.valid_output(answer)  # a limit ended the run: its best answer, if it fits
        await self.book.finish(status, answer, stop_reason, output=output)
        await self.emit(RunEnded(run_id=self.run_id, status=status, answer=answer, stop_reason=stop_reason))

    async def fail(self, kind: str, message: str) -> None:
        await self.emit(Notice(run_id=self.run_id, level="error", message=message))
        await self.book.fail(kind, message)
        fin = self.state.finished
        await self.emit(
            RunEnded(run_id=self.run_id, status="failed", answer=fin.answer if fin else "", stop_reason=message)
        )

    def best_answer(self) -> str:
        return self.book.best_answer()

    def result(self) -> RunResult:
        return self.book.result(self.context.window)
