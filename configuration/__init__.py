"""The gateway's configuration as files and first run: import and export of the seed formats
(ccproxy, claude-proxy, LiteLLM, agent hashes) and the gateway's own, through one canonical dict
(configuration/services.py), seeding from environment variables, and the init command."""
