from providers.services.calls import CallContext, Outcome, provider_call

__all__ = ["CallContext", "Outcome", "provider_call"]
