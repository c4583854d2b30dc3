"""Inbound request checks: one JSON body parser and the dialect schemas it checks against."""

from gateway.validation.body import MAX_DEPTH, BadRequest, body_check, body_parse, depth_check, error_path
from gateway.validation.chat import CHAT
from gateway.validation.messages import COUNT_TOKENS, MESSAGES

__all__ = ["CHAT", "COUNT_TOKENS", "MAX_DEPTH", "MESSAGES", "BadRequest", "body_check", "body_parse",
           "depth_check", "error_path"]
