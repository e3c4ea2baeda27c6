"""``python -m agentkit.testing --responder module:factory``: the fake provider as a process."""

from agentkit.testing.fake_provider import main

main()
