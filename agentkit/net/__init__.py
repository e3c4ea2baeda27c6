"""The one guarded way out to the network: the SSRF guard (every address dialled and every
redirect hop checked), the shared HTTP client and byte-capped downloads. Imports: nothing of agentkit.
"""
