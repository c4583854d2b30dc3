"""Inbound request checks: one JSON body parser and the dialect schemas it checks against."""

from providers.validation.body import MAX_DEPTH, BadRequest, body_check, body_parse, depth_check, error_path
from providers.validation.chat import CHAT
from providers.validation.messages import COUNT_TOKENS, MESSAGES

__all__ = ["CHAT", "COUNT_TOKENS", "MAX_DEPTH", "MESSAGES", "BadRequest", "body_check", "body_parse",
           "depth_check", "error_path"]
