"""A run: the Agent and its loop (``agent``, the model-facing half ``_model_calls``), the run
book, limits and cost, the report phase, the planner, prompts, live events and the ensemble seam.
Imports: context, tools, report, llm, telemetry, the task sections, the store and its fold.
"""
