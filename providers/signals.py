"""What the backends announce, for the apps above them to act on (Django signals, sent sync).

- ``provider_probed(provider_id, config, result)``: a health check of one provider ran
  (providers/probes.py). routing feeds its breakers from it; the dashboard redraws the provider.
- ``provider_status_changed(provider_ids)``: something the dashboard shows of these providers
  changed (a circuit reset, a token refresh).
- ``provider_credential_changed(provider_id)``: a credential was replaced without ``save()``
  (an OAuth refresh writes with ``update()``); routing reloads its route table.
"""

from __future__ import annotations

from django.dispatch import Signal

provider_probed = Signal()
provider_status_changed = Signal()
provider_credential_changed = Signal()
