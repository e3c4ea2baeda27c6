"""Ensembles above the loop: heavy mode (``heavy``) and the delegate swarm (``_swarm``),
registered with the loop through ``agentkit.run._ensemble``. Imports: run and everything below it.
"""
