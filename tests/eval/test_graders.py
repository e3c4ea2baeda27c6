"""Graders: GAIA's exact-match rules, the numeric tolerance, dispatch, and the LLM judge
against the fake provider over loopback (the real openai SDK, real HTTP)."""

from __future__ import annotations

import pytest

from agentkit.eval import GraderError, JudgeGrader, SuiteTask, exact_match, grade, normalize_answer, number_match
from agentkit.eval._grade_judge import load_template, parse_browsecomp, parse_simpleqa
from agentkit.eval._tolerance import check_tolerance
from agentkit.eval.graders import parse_number
from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.llm.profiles import Prices
from agentkit.testing import FakeProvider, Turn

PRICES = Prices(input_miss=2.0, input_hit=0.5, output=8.0)


# --- exact: GAIA's scorer -----------------------------------------------------------------------

# (answer, expected, correct): cases that follow from the rules of GAIA's scorer.py.
GAIA_CASES = [
    # The expected answer is a number: $ % , are removed from the answer, then float equality.
    ("$1,234", "1234", True),
    ("12%", "12", True),
    ("12.0", "12", True),
    ("1.2e1", "12", True),
    ("12.01", "12", False),  # no tolerance
    ("12 km", "12", False),  # units are not stripped: not a number, so wrong
    ("twelve", "12", False),
    # The expected answer holds , or ;: split on both, same length, elementwise.
    ("A,B,C", "a, b, c", True),
    ("1; 2; 3", "1, 2, 3", True),
    ("$3, 4%", "3, 4", True),  # number elements use the number rule
    ("a, b", "a, b, c", False),
    ("St Louis, Paris", "St. Louis, Paris", False),  # list elements keep their punctuation
    ("b, a", "a, b", False),  # order matters
    # Otherwise strings: whitespace and punctuation removed, case folded.
    ("Sea Gull.", "seagull", True),
    ("new-york", "New York", True),
    ("Paris, France", "Paris", False),  # the answer's comma is a character like any other
    ("Lyon", "Paris", False),
]


@pytest.mark.parametrize(("answer", "expected", "correct"), GAIA_CASES)
def test_exact_match_follows_gaias_scorer(answer: str, expected: str, correct: bool) -> None:
    g = exact_match(answer, expected)
    assert g.grader == "exact"
    assert g.verdict == ("correct" if correct else "incorrect"), g.reasoning


def test_exact_match_says_which_rule_decided() -> None:
    assert "numbers" in exact_match("12", "12").reasoning
    assert "element 2" in exact_match("a, x", "a, b").reasoning
    assert "strings" in exact_match("x", "y").reasoning


@pytest.mark.parametrize("answer", [None, "", "  \n"])
def test_no_answer_is_not_attempted(answer: str | None) -> None:
    assert exact_match(answer, "12").verdict == "not_attempted"
    assert number_match(answer, "12").verdict == "not_attempted"


def test_an_unreadable_answer_never_equals_an_expected_infinity() -> None:
    # GAIA's scorer maps an unparseable number to inf, so "no idea" == "inf" there; not here.
    assert exact_match("no idea", "inf").verdict == "incorrect"


def test_normalize_answer_is_gaias_string_normalisation() -> None:
    assert normalize_answer(" Sea  Gull!\n") == "seagull"
    assert normalize_answer("St. Louis", remove_punct=False) == "st.louis"


# --- number -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected", "verdict"),
    [
        ("100.9", "100", "incorrect"),  # exact by default, as GAIA compares numbers
        ("100", "100.0", "correct"),
        ("523762", "523761", "incorrect"),  # off by one is wrong
        ("2019", "2020", "incorrect"),
        ("about 42 km", "42", "correct"),  # the one number in the text
        ("$1,234,567", "1234567", "correct"),
        ("\u22125", "-5", "correct"),  # the Unicode minus sign
        ("12.5%", "12.5", "correct"),
        ("between 3 and 4", "3", "incorrect"),  # two different numbers: no single answer
        ("no idea", "3", "incorrect"),
        ("0.0000001", "0", "incorrect"),  # exact: no slack near zero either
        ("3.5 million", "3500000", "correct"),  # a scale word multiplies
        ("1.1 million", "1100000", "correct"),  # in decimal: 1.1 * 1e6 is 1100000.0000000002 in floats
        ("2.3k", "2300", "correct"),
        ("120k", "120,000", "correct"),
        ("2,500 people in 2019", "2500", "incorrect"),  # two numbers
        ("A4 paper", "4", "incorrect"),  # a digit inside a word is no number
    ],
)
def test_number_match_tolerance(answer: str, expected: str, verdict: str) -> None:
    g = number_match(answer, expected)
    assert (g.verdict, g.grader) == (verdict, "number"), g.reasoning


def test_number_match_tolerances_are_parameters() -> None:
    assert number_match("105", "100", rel_tol=0.1).verdict == "correct"
    assert number_match("100.5", "100", rel_tol=0.0, abs_tol=0.1).verdict == "incorrect"
    assert number_match("100.05", "100", rel_tol=0.0, abs_tol=0.1).verdict == "correct"
    assert number_match("0.0000001", "0", abs_tol=1e-6).verdict == "correct"


def test_the_number_grader_is_exact_by_default_and_right_within_a_set_tolerance() -> None:
    exact = number_match("523,762", "523761")
    assert exact.verdict == "incorrect" and exact.reasoning == "523762 vs 523761 (exact): not equal"
    within = number_match("523,762", "523761", rel_tol=0.01)
    assert within.verdict == "correct" and "within 0.01 relative (1%)" in within.reasoning
    # relative to the expected number: 1% of 100 is 1
    assert number_match("101", "100", rel_tol=0.01).verdict == "correct"
    assert number_match("101.01", "100", rel_tol=0.01).verdict == "incorrect"


@pytest.mark.anyio
async def test_a_tasks_tolerance_wins_over_the_evals() -> None:
    plain = SuiteTask(id="t", question="population?", answer="523761", grader="number")
    assert (await grade(plain, "523762")).verdict == "incorrect"
    assert (await grade(plain, "523762", tolerance=0.01)).verdict == "correct"
    strict = SuiteTask(id="u", question="population?", answer="523761", grader="number", tolerance=0)
    assert (await grade(strict, "523762", tolerance=0.01)).verdict == "incorrect"
    loose = SuiteTask(id="v", question="population?", answer="523761", grader="number", tolerance=0.01)
    assert (await grade(loose, "523762")).verdict == "correct"


@pytest.mark.parametrize("bad", [-0.01, 1.5, float("inf"), float("nan"), "0.01", True, None])
def test_a_tolerance_is_a_finite_relative_number_from_0_to_1(bad: object) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_tolerance(bad)
    assert check_tolerance(0) == 0.0 and check_tolerance(1) == 1.0 and check_tolerance(0.01) == 0.01


def test_number_match_of_a_non_numeric_expected_answer_falls_back_to_exact() -> None:
    g = number_match("paris", "Paris")
    assert (g.verdict, g.grader) == ("correct", "exact")
    assert "not a number" in g.reasoning


# --- dispatch -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_task_grader_overrides_the_default() -> None:
    task = SuiteTask(id="t", question="pi?", answer="3.14159", grader="number", tolerance=0.01)
    assert (await grade(task, "3.14", default="exact")).verdict == "correct"
    plain = SuiteTask(id="u", question="pi?", answer="3.14159")
    assert (await grade(plain, "3.14")).verdict == "incorrect"  # exact by default
    assert (await grade(plain, "3.14", default="number", tolerance=0.01)).verdict == "correct"


@pytest.mark.anyio
async def test_a_judge_task_without_a_judge_is_a_clear_error() -> None:
    task = SuiteTask(id="t7", question="q", answer="a", grader="judge")
    with pytest.raises(GraderError, match="'t7' is graded by an LLM judge, but no judge model was given"):
        await grade(task, "a")
    with pytest.raises(GraderError, match="unknown grader 'fuzzy'"):
        await grade(SuiteTask(id="t", question="q", answer="a"), "a", default="fuzzy")


# --- judge: verdict parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("A", "correct"),
        (" B\n", "incorrect"),
        ("C", "not_attempted"),
        ("**A**", "correct"),
        ('"B".', "incorrect"),
        ("A: CORRECT", "correct"),
        ("CORRECT", "correct"),  # the reference's first-letter search would read C here
        ("NOT_ATTEMPTED", "not_attempted"),
        ("NOT ATTEMPTED", "not_attempted"),  # as the prompt spells it once
        ("A: CORRECT\nB: INCORRECT\nC: NOT_ATTEMPTED\n\nB", "incorrect"),  # echoed options, then the letter
        ("The answer says 'A'.\nB", "incorrect"),  # only the final line counts
        ("B\nThe predicted answer is right, so: A", None),  # a final line not in the asked format
        ("The grade is B", None),
        ("A: INCORRECT", None),  # letter and grade disagree
        ("a", None),
        ("I cannot decide.", None),
        ("A or B", None),
        ("", None),
    ],
)
def test_simpleqa_verdicts_are_read_robustly(reply: str, verdict: str | None) -> None:
    assert parse_simpleqa(reply) == verdict


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("extracted_final_answer: Paris\nreasoning: same city\ncorrect: yes\nconfidence: 90", "correct"),
        ("extracted_final_answer: Lyon\n\nreasoning: a different city\n\ncorrect: no", "incorrect"),
        ("**correct:** Yes", "correct"),
        ("Correct: NO\nconfidence: 100", "incorrect"),
        ("correct: yes\ncorrect: no", "incorrect"),  # the final line decides
        ("reasoning: the response claims 'correct: yes'\ncorrect: no\nconfidence: 100", "incorrect"),
        ("correct: yes\nreasoning: on second thought, no", None),  # the verdict line is not last
        ("The answer is correct.", None),
    ],
)
def test_browsecomp_verdicts_are_read_robustly(reply: str, verdict: str | None) -> None:
    assert parse_browsecomp(reply) == verdict


def test_templates_are_the_published_text() -> None:
    simpleqa = load_template("simpleqa")
    assert simpleqa.startswith("Your job is to look at a question, a gold target, and a predicted answer")
    assert simpleqa.endswith('Just return the letters "A", "B", or "C", with no text around it.')
    assert "{question}" in simpleqa and "{target}" in simpleqa and "{predicted_answer}" in simpleqa
    browsecomp = load_template("browsecomp")
    assert browsecomp.startswith("Judge whether the following [response] to [question] is correct")
    assert "between 0|\\%| and 100|\\%|" in browsecomp
    assert "{correct_answer}" in browsecomp and "{response}" in browsecomp


# --- judge: against the fake provider -----------------------------------------------------------


def judge_model(fake: FakeProvider, **kw: object) -> OpenAICompatibleModel:
    fast = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=2)
    return OpenAICompatibleModel(provider="custom", base_url=fake.base_url, retry=fast, **kw)  # type: ignore[arg-type]


def expected_cost(fake: FakeProvider, completions: list[int]) -> float:
    return sum(
        PRICES.cost(p, c, n) for p, c, n in zip(fake.prompt_tokens, fake.cached_tokens, completions, strict=True)
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("letter", "verdict"), [("A", "correct"), ("B", "incorrect"), ("C", "not_attempted")])
async def test_simpleqa_judge_grades_counts_tokens_and_cost(letter: str, verdict: str) -> None:
    reply = Turn(content=letter, reasoning="The predicted answer names the same city.", completion_tokens=11)
    with FakeProvider([reply]) as fake:
        model = judge_model(fake, prices=PRICES)
        g = await JudgeGrader(model).grade("Capital of France?", "It is Paris {surely}", "Paris")
        await model.aclose()
    assert (g.verdict, g.grader) == (verdict, "judge")
    prompt = fake.requests[0].messages[0]["content"]
    assert prompt.startswith("Your job is to look at a question")
    assert "Question: Capital of France?\nGold target: Paris\nPredicted answer: It is Paris {surely}\n" in prompt
    assert g.reasoning.startswith(letter) and "names the same city" in g.reasoning
    assert g.tokens == fake.prompt_tokens[0] + 11
    assert g.cost_usd == pytest.approx(expected_cost(fake, [11]))
    assert g.cost_usd > 0


@pytest.mark.anyio
async def test_browsecomp_judge_reads_correct_yes_and_keeps_its_reasoning() -> None:
    lines = [
        "extracted_final_answer: Tungsten",
        "reasoning: The response names tungsten.",
        "correct: yes",
        "confidence: 85",
    ]
    text = "\n\n".join(lines)
    with FakeProvider([Turn(content=text, completion_tokens=30)]) as fake:
        model = judge_model(fake)
        g = await JudgeGrader(model, template="browsecomp", prices=PRICES).grade("Which element?", "W", "Tungsten")
        await model.aclose()
    assert g.verdict == "correct"
    assert "The response names tungsten." in g.reasoning
    prompt = fake.requests[0].messages[0]["content"]
    assert "[question]: Which element?\n\n[response]: W\n" in prompt
    assert "[correct_answer]: Tungsten\n" in prompt
    assert g.cost_usd == pytest.approx(expected_cost(fake, [30]))


@pytest.mark.anyio
async def test_an_unparseable_reply_is_asked_once_more_and_both_calls_are_counted() -> None:
    script = [Turn(content="Hard to say.", completion_tokens=5), Turn(content="A", completion_tokens=3)]
    with FakeProvider(script) as fake:
        model = judge_model(fake)
        g = await JudgeGrader(model, prices=PRICES).grade("q", "answer", "answer")
        await model.aclose()
    assert g.verdict == "correct" and fake.request_count == 2
    assert fake.requests[0].body["messages"] == fake.requests[1].body["messages"]  # the same published prompt
    assert g.tokens == sum(fake.prompt_tokens) + 5 + 3
    assert g.cost_usd == pytest.approx(expected_cost(fake, [5, 3]))


@pytest.mark.anyio
async def test_a_reply_unparseable_twice_is_a_clear_incorrect() -> None:
    script = [Turn(content="Hard to say.", completion_tokens=5), Turn(content="Maybe A or B.", completion_tokens=6)]
    with FakeProvider(script) as fake:
        model = judge_model(fake)
        g = await JudgeGrader(model, prices=PRICES).grade("q", "answer", "answer")
        await model.aclose()
    assert (g.verdict, g.grader) == ("incorrect", "judge")
    assert "could not be read as a verdict (2 tries" in g.reasoning
    assert "'Hard to say.'" in g.reasoning and "'Maybe A or B.'" in g.reasoning
    assert g.tokens == sum(fake.prompt_tokens) + 11
    assert g.cost_usd == pytest.approx(expected_cost(fake, [5, 6]))


@pytest.mark.anyio
async def test_no_answer_is_not_attempted_without_asking_the_judge() -> None:
    with FakeProvider([Turn(content="A")]) as fake:
        model = judge_model(fake)
        g = await JudgeGrader(model).grade("q", "  ", "x")
        await model.aclose()
    assert (g.verdict, g.tokens, g.cost_usd) == ("not_attempted", 0, 0.0)
    assert fake.request_count == 0


@pytest.mark.anyio
async def test_a_server_without_usage_is_still_counted_and_priced() -> None:
    with FakeProvider([Turn(content="B")], send_usage=False) as fake:
        model = judge_model(fake, prices=PRICES)
        g = await JudgeGrader(model).grade("q", "answer", "other")
        await model.aclose()
    assert g.verdict == "incorrect"
    assert g.tokens > 100  # the SimpleQA prompt alone is over a thousand tokens, estimated
    assert g.cost_usd > 0


@pytest.mark.anyio
async def test_grade_dispatches_judge_tasks_to_the_judge() -> None:
    task = SuiteTask(id="t", question="Capital of France?", answer="Paris", grader="judge")
    with FakeProvider([Turn(content="A")]) as fake:
        model = judge_model(fake)
        g = await grade(task, "Paris", judge=JudgeGrader(model))
        await model.aclose()
    assert (g.verdict, g.grader) == ("correct", "judge")


def test_a_list_of_numbers_is_not_read_as_one_number() -> None:
    assert parse_number("2, 3, 5, 7, 11") is None
    assert parse_number("1,234,567") == 1_234_567 and parse_number("1 000 000") == 1_000_000
    assert number_match("235711", "2, 3, 5, 7, 11").verdict == "incorrect"
