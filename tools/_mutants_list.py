"""The curated mutants of ``tools/mutants.py``: one small, meaningful bug each.

Every mutant is a bug that once happened or easily could, in a place that matters: its
``old`` text must occur exactly once in ``file`` (else the runner stops: the code moved and
the mutant must be updated), ``new`` replaces it, and ``tests`` is a small pytest selection
(files, node ids, ``-k`` expressions) of which at least one test must fail on the mutant.

A new capability adds its own mutants here, next to a test that kills them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    description: str
    tests: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    # --- context budget -------------------------------------------------------------------
    Mutant(
        id="elide-newest",
        file="agentkit/context/policy.py",
        old="elide_before=max(cut.elide_before, n - max(1, self.keep_reasoning))",
        new="elide_before=max(cut.elide_before, n)",
        description="once elision starts, every turn's reasoning is elided, the newest too",
        tests=("tests/context/test_window.py", "tests/context/test_policy.py"),
    ),
    Mutant(
        id="elide-keep-one",
        file="agentkit/context/policy.py",
        old="elide_before=max(cut.elide_before, n - max(1, self.keep_reasoning))",
        new="elide_before=max(cut.elide_before, n - 1)",
        description="keep_reasoning ignored: only the newest turn keeps its reasoning",
        tests=("tests/context/test_window.py", "tests/context/test_mutant_gaps_reasoning.py"),
    ),
    Mutant(
        id="reserve-is-window",
        file="agentkit/context/builder.py",
        old="return max(1, min(self.max_tokens, self.window // RESERVE_SHARE))",
        new="return max(1, min(self.max_tokens, self.window))",
        description="the output reserve may be the whole window (a 32k default in a 32k window)",
        tests=("tests/context/test_window.py", "tests/context/test_small_windows.py"),
    ),
    Mutant(
        id="calibration-below-floor",
        file="agentkit/context/tokens.py",
        old="return max(self.floor, max(self._observed)) if self._observed else self.initial",
        new="return max(self._observed) if self._observed else self.initial",
        description="calibration may lower the tokens-per-byte ratio below its floor",
        tests=("tests/context/test_estimator.py",),
    ),
    # --- the loop ---------------------------------------------------------------------------
    Mutant(
        id="resume-skips-pending",
        file="agentkit/run/agent.py",
        old="        if state.pending_calls:\n            await self.run_tools(",
        new="        if False:\n            await self.run_tools(",
        description="resume does not run the tool calls left unanswered",
        tests=("tests/agent/test_resume.py",),
    ),
    Mutant(
        id="cut-off-is-answer",
        file="agentkit/run/_runs.py",
        old='    if turn.finish_reason == "length":\n        return CUT_OFF\n',
        new="",
        description="a reply cut off by max_tokens is taken as the final answer",
        tests=("tests/agent/test_run_outcomes.py",),
    ),
    Mutant(
        id="error-leaves-running",
        file="agentkit/run/_runs.py",
        old="                await RunBook(store, await load_state(store, run_id)).settle(exc)\n",
        new=(
            '                if ending(exc)[0] == "interrupted":\n'
            "                    await RunBook(store, await load_state(store, run_id)).settle(exc)\n"
        ),
        description="an unexpected error in the loop leaves the run `running`",
        tests=("tests/agent/test_run_outcomes.py",),
    ),
    Mutant(
        id="settle-no-row-fallback",
        file="agentkit/run/_runs.py",
        old=(
            "        with contextlib.suppress(Exception):\n"
            "            await self.sync_row(status=status, stop_reason=reason)\n"
        ),
        new="",
        description="a store that refuses events but takes row updates leaves the run `running`",
        tests=("tests/agent/test_run_outcomes.py::test_a_refused_write_leaves_the_run_interrupted_and_resumable",),
    ),
    Mutant(
        id="refused-write-fails",
        file="agentkit/run/_runs.py",
        old='        return "interrupted", f"the store refused a write: {exc}"\n',
        new='        return "failed", f"the store refused a write: {exc}"\n',
        description="a refused write (a full disk) ends the run `failed`, though nothing is lost and it can resume",
        tests=("tests/agent/test_run_outcomes.py::test_a_refused_write_leaves_the_run_interrupted_and_resumable",),
    ),
    Mutant(
        id="reasoning-field-fixed",
        file="agentkit/context/messages.py",
        old="msg[reasoning_field] = reasoning if elided",
        new='msg["reasoning_content"] = reasoning if elided',
        description="reasoning is sent back as reasoning_content whatever the profile's field",
        tests=("tests/llm/test_client_turns.py", "tests/llm/test_recorded.py"),
    ),
    # --- limits and cost --------------------------------------------------------------------
    Mutant(
        id="cost-cap-not-fitted",
        file="agentkit/run/_limits.py",
        old='            return request.model_copy(update={"max_tokens": allowed})',
        new="            return request",
        description="max_tokens is not lowered to fit the cost left under max_cost_usd",
        tests=("tests/agent/test_run_outcomes.py", "tests/agent/test_limits.py"),
    ),
    Mutant(
        id="cost-cap-forgets-prompt",
        file="agentkit/run/_limits.py",
        old="        allowed = int((room_usd - prompt_cost) * 1_000_000 / prices.output)\n",
        new="        allowed = int(room_usd * 1_000_000 / prices.output)\n",
        description="the output tokens a call may use are fitted to the money left without its prompt's cost",
        tests=("tests/agent/test_limits.py::test_the_cost_cap_holds_when_every_reply_uses_all_its_output_tokens",),
    ),
    Mutant(
        id="report-cost-uncharged",
        file="agentkit/run/_report_phase.py",
        old="    if model.usage.calls:\n",
        new="    if False:\n",
        description="the report phase's model calls are not charged to the run",
        tests=("tests/agent/test_run_outcomes.py",),
    ),
    Mutant(
        id="cache-price-ignored",
        file="agentkit/llm/profiles.py",
        old="        cached = min(cached_tokens, prompt_tokens)\n",
        new="        cached = 0\n",
        description="cached prompt tokens are priced as misses",
        tests=("tests/agent/test_limits.py",),
    ),
    Mutant(
        id="cache-count-dropped",
        file="agentkit/llm/_stream.py",
        old="        cached_tokens=int(cached or 0),",
        new="        cached_tokens=0,",
        description="the provider's cached-token count is not read from usage",
        tests=("tests/agent/test_limits.py", "tests/llm/test_client.py"),
    ),
    Mutant(
        id="task-limit-dropped",
        file="agentkit/run/_from_task.py",
        old="        limits=task.limits,\n",
        new="",
        description="the task file's limits section is not passed to the agent",
        tests=("tests/test_task.py", "tests/cli/test_mutant_gaps_launch.py"),
    ),
    Mutant(
        id="task-keep-results-dropped",
        file="agentkit/run/_from_task.py",
        old="        keep_tool_results=task.context.keep_tool_results,\n",
        new="",
        description="the task file's context.keep_tool_results is not passed to the agent",
        tests=("tests/test_task.py", "tests/cli/test_mutant_gaps_launch.py"),
    ),
    # --- model client -----------------------------------------------------------------------
    Mutant(
        id="retry-after-ignored",
        file="agentkit/llm/client.py",
        old="            hinted = _retry_after(exc) if exc else None\n",
        new="            hinted = None\n",
        description="retries ignore the server's Retry-After",
        tests=("tests/llm/test_client.py", "tests/llm/test_mutant_gaps_retry_after.py"),
    ),
    Mutant(
        id="retry-after-not-shared",
        file="agentkit/llm/client.py",
        old="                self._paused_until = max(self._paused_until, time.monotonic() + hinted)\n",
        new="",
        description="a Retry-After holds back only the call that got it, not the client's next calls",
        tests=("tests/llm/test_client.py", "tests/llm/test_mutant_gaps_retry_after.py"),
    ),
    Mutant(
        id="quota-429-retried",
        file="agentkit/llm/_failures.py",
        old="    if any(word in body or word in message.lower() for word in _EXHAUSTED):\n        return False\n",
        new="",
        description="a 429 for an exhausted balance is retried like a rate limit",
        tests=("tests/llm/test_recorded.py",),
    ),
    Mutant(
        id="moonshot-overflow-unknown",
        file="agentkit/llm/errors.py",
        old='            r"exceeded model token limit",\n',
        new="",
        description="Moonshot's overflow text is not recognised as a context overflow",
        tests=("tests/llm/test_client_errors.py", "tests/llm/test_client.py"),
    ),
    Mutant(
        id="stream-error-unmapped",
        file="agentkit/llm/_send.py",
        old='        raise body_error(exc.body, provider, after_length=assembler.finish_reason == "length") from exc',
        new='        raise StreamIncomplete(f"{provider} stream failed: {exc}") from exc',
        description="an error object inside a 200 stream is taken for a dropped stream",
        tests=("tests/llm/test_client_errors.py", "tests/llm/test_recorded.py"),
    ),
    Mutant(
        id="truncated-args-parsed",
        file="agentkit/llm/_stream.py",
        old='        cut = self.finish_reason == "length"\n',
        new="        cut = False\n",
        description="tool-call arguments cut off by max_tokens are parsed as if whole",
        tests=("tests/llm/test_client_turns.py",),
    ),
    Mutant(
        id="repair-guesses-cut-json",
        file="agentkit/llm/_repair.py",
        old='    if not cleaned.endswith("}"):\n',
        new="    if False:\n",
        description="arguments that were never closed are completed by json_repair and run",
        tests=("tests/llm/test_client.py", "tests/agent/test_loop.py"),
    ),
    Mutant(
        id="repair-disabled",
        file="agentkit/llm/_repair.py",
        old="    if isinstance(repaired, dict) and repaired:\n",
        new="    if False:\n",
        description="safe repairs (trailing comma, leaked tokens, fences) are not applied",
        tests=("tests/llm/test_client.py",),
    ),
    # --- heavy mode -------------------------------------------------------------------------
    Mutant(
        id="vote-takes-first",
        file="agentkit/ensembles/heavy.py",
        old="    best = votes.most_common(1)[0][0]\n",
        new="    best = normalise_answer(results[min(results)].answer)\n",
        description="vote returns the first trajectory's answer, not the majority",
        tests=("tests/agent/test_heavy.py",),
    ),
    Mutant(
        id="early-stop-off",
        file="agentkit/ensembles/heavy.py",
        old="            if top and top[0][1] >= need:\n",
        new="            if False:\n",
        description="heavy mode never stops early once a majority agrees",
        tests=("tests/agent/test_heavy.py",),
    ),
    Mutant(
        id="select-ignores-pick",
        file="agentkit/ensembles/heavy.py",
        old="        chosen = children[pick - 1] if 1 <= pick <= len(children) else None\n",
        new="        chosen = children[0]\n",
        description="select ignores the trajectory the model picked",
        tests=("tests/agent/test_heavy.py",),
    ),
    # --- store ------------------------------------------------------------------------------
    Mutant(
        id="killed-run-shown-running",
        file="agentkit/store/status.py",
        old="    elif await store.is_leased(run.id) is False:\n",
        new="    elif False:\n",
        description="a run whose driver was killed (no one holds its lease) is shown `running`",
        tests=("tests/cli/test_run_status.py::test_readers_agree_on_a_run_whose_mcp_server_was_killed[sqlite]",),
    ),
    Mutant(
        id="shown-counters-from-stale-row",
        file="agentkit/store/status.py",
        old='    update: dict[str, Any] = {"steps": steps, "usage": usage, "cost_usd": cost}\n',
        new="    update: dict[str, Any] = {}\n",
        description="a run the row lags behind (killed, or driven now) is shown with the row's stale counters",
        tests=(
            "tests/cli/test_run_status.py::test_readers_agree_on_a_run_whose_mcp_server_was_killed[sqlite]",
            "tests/cli/test_run_status.py::test_a_run_whose_end_is_committed_but_not_its_row_shows_its_end",
        ),
    ),
    Mutant(
        id="store-seq-repeats",
        file="agentkit/store/sqlite.py",
        old='"SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = ?"',
        new='"SELECT COALESCE(MAX(seq), 1) FROM events WHERE run_id = ?"',
        description="sqlite: a new event reuses the last seq instead of the next one",
        tests=("tests/store/test_conformance.py",),
    ),
    Mutant(
        id="store-drops-events",
        file="agentkit/store/sqlite.py",
        old="            encoded = [encode_event(e, limit) for e in events]",
        new="            encoded = [encode_event(e, limit) for e in events[:1]]",
        description="sqlite: append_many keeps only the first event of a batch",
        tests=("tests/store/test_conformance.py",),
    ),
    Mutant(
        id="memory-seq-from-zero",
        file="agentkit/store/memory.py",
        old="        first = len(log) + 1\n",
        new="        first = len(log)\n",
        description="memory store: seqs start at 0, so `events(after=seq)` skips an event",
        tests=("tests/store/test_conformance.py",),
    ),
    Mutant(
        id="codec-keeps-surrogate",
        file="agentkit/_text.py",
        old='        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")',
        new="        return text",
        description="a lone surrogate is not replaced, so the event cannot be encoded",
        tests=("tests/store/test_conformance.py",),
    ),
    # --- task files -------------------------------------------------------------------------
    Mutant(
        id="task-reads-pseudo-file",
        file="agentkit/task/_read.py",
        old="    if stat.S_ISREG(st.st_mode) and size != st.st_size:\n",
        new="    if False:\n",
        description="task `file:` reads /proc pseudo-files (/proc/self/environ)",
        tests=("tests/test_task.py",),
    ),
    Mutant(
        id="task-text-reads-fifo",
        file="agentkit/task/_read.py",
        old="        return stat.S_ISREG(mode) or (allow_pipe and stat.S_ISFIFO(mode))",
        new="        return stat.S_ISREG(mode) or stat.S_ISFIFO(mode)",
        description="task `file:` accepts a FIFO (which can hang the read)",
        tests=("tests/test_task.py",),
    ),
    # --- tools, sandbox ---------------------------------------------------------------------
    Mutant(
        id="ssrf-rebinding",
        file="agentkit/net/_ssrf.py",
        old="                addresses = await vet_host(host, port)\n",
        new="                addresses = await resolve(host, port)\n",
        description="the connection layer dials addresses it did not vet (DNS rebinding)",
        tests=("tests/tools/test_ssrf.py",),
    ),
    Mutant(
        id="ssrf-6to4",
        file="agentkit/net/_ssrf.py",
        old="        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour\n",
        new="        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped\n",
        description="a private IPv4 address inside a 6to4 IPv6 address passes the guard",
        tests=("tests/tools/test_ssrf.py",),
    ),
    Mutant(
        id="sandbox-network",
        file="agentkit/sandbox/_launch.py",
        old='    if not config.network:\n        a.add("--unshare-net")\n',
        new="",
        description="the sandbox keeps the host's network",
        tests=(
            "tests/sandbox/test_sandbox_units.py",
            "tests/sandbox/test_python_sandbox.py::test_no_network_unless_enabled",
        ),
    ),
    Mutant(
        id="sandbox-refusal-bypassed",
        file="agentkit/sandbox/_pool.py",
        old=(
            "        if self.unavailable_reason is not None:\n"
            "            raise SandboxUnavailable(self.unavailable_reason)\n"
        ),
        new="",
        description="where no isolation is possible, code runs unisolated instead of being refused",
        tests=("tests/sandbox/test_isolation.py",),
    ),
    Mutant(
        id="config-default-unisolated",
        file="agentkit/task/sections.py",
        old='BeforeValidator(one_of(ISOLATIONS, "isolation"))] = "bwrap"',
        new='BeforeValidator(one_of(ISOLATIONS, "isolation"))] = "none"',
        description="the built-in python tool runs code unisolated when the task names no isolation",
        tests=("tests/tools/test_builtin_settings.py",),
    ),
    Mutant(
        id="python-default-unisolated",
        file="agentkit/task/sections.py",
        old='BeforeValidator(one_of(ISOLATIONS, "isolation"))] = "bwrap"',
        new='BeforeValidator(one_of(ISOLATIONS, "isolation"))] = "none"',
        description="a run whose settings name no sandbox section runs code without isolation",
        tests=("tests/sandbox/test_isolation.py",),
    ),
    Mutant(
        id="sandbox-env-secrets",
        file="agentkit/sandbox/_config.py",
        old="if not is_secret(k, v) and",
        new="if",
        description="secret-named variables (API keys) reach the kernel's environment",
        tests=("tests/sandbox/test_sandbox_units.py",),
    ),
    # --- secrets in stored configuration ------------------------------------------------------
    Mutant(
        id="url-credentials-kept",
        file="agentkit/_redact.py",
        old='            netloc = f"{MASK}@" + netloc.rsplit("@", 1)[1]\n',
        new="            netloc = netloc\n",
        description="user:password@ in a base URL is stored with the run's configuration",
        tests=("tests/agent/test_config_redaction.py", "tests/test_task.py"),
    ),
    # --- reports ----------------------------------------------------------------------------
    Mutant(
        id="verify-no-hard-fail",
        file="agentkit/report/verify.py",
        old="    if hard_fail:\n        score = min(score, WEAK_AT - 0.05)\n",
        new="",
        description="a quote or number missing from the source no longer fails the citation",
        tests=("tests/report/test_verify.py",),
    ),
    Mutant(
        id="unsupported-citation-kept",
        file="agentkit/report/writer.py",
        old='            flagged[(s_index, index)] = {c.source_id for c in checks if c.verdict == "unsupported"}',
        new="            flagged[(s_index, index)] = set()",
        description="unsupported citations are silently kept in the report",
        tests=("tests/report/test_writer.py",),
    ),
    Mutant(
        id="figure-link-followed",
        file="agentkit/report/render.py",
        old="            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=sub)",
        new="            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=sub)",
        description="a figure the sandbox replaced by a link to a host file is read",
        tests=("tests/report/test_figures_hostile.py",),
    ),
    Mutant(
        id="figure-dir-link-followed",
        file="agentkit/report/render.py",
        old="sub = os.open(folder.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC",
        new="sub = os.open(folder.name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC",
        description="a figures dir the sandbox replaced by a link to a host dir is read",
        tests=("tests/report/test_figures_hostile.py",),
    ),
    # --- the SQLite store's group commit -------------------------------------------------
    Mutant(
        id="queued-write-kept-after-cancel",
        file="agentkit/store/_sqlite_writes.py",
        old="                self._queue.remove(w)  # it never reached the thread: dropped unwritten",
        new="                pass  # it never reached the thread: dropped unwritten",
        description="a write whose caller was cancelled while it queued is still committed by the next batch",
        tests=("tests/store/test_group_commit.py",),
    ),
    Mutant(
        id="lost-transaction-not-rerun",
        file="agentkit/store/_sqlite_writes.py",
        old="            if not self._call(conn, w) and not conn.in_transaction:",
        new="            if not self._call(conn, w) and False:",
        description="when SQLite ends a batch's transaction, the writes before the failure are reported done but lost",
        tests=("tests/store/test_group_commit.py",),
    ),
    Mutant(
        id="taken-write-abandoned-on-cancel",
        file="agentkit/store/_sqlite_writes.py",
        old="        with anyio.CancelScope(shield=True):  # taken: it runs to the end, and its caller learns how",
        new="        with anyio.CancelScope(shield=False):  # taken: it runs to the end, and its caller learns how",
        description="a caller cancelled while its write is in the thread loses its seq though the write commits",
        tests=("tests/store/test_group_commit.py",),
    ),
)
