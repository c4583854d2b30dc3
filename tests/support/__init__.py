"""Helpers for black-box tests that run the real gateway as a process."""

from tests.support.gateway import CLIENT_KEY, GatewayProcess, GatewayStartError, start_gateway

__all__ = ["CLIENT_KEY", "GatewayProcess", "GatewayStartError", "start_gateway"]
