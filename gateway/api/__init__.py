"""The inbound dialects, one module each: Anthropic Messages (anthropic.py), OpenAI chat
completions (openai.py), Claude Code's Bedrock mode (bedrock.py) and Vertex mode (vertex.py)."""
