"""``python -m proxy_project.edge_daphne ARGS``: daphne's command line, same arguments, with the
gateway's edge server (proxy_project/daphne_tuning.py)."""

from __future__ import annotations

import sys

from proxy_project.daphne_tuning import edge_command_line, server_tls_wanted

if __name__ == "__main__":
    edge_command_line(server_tls=server_tls_wanted(sys.argv[1:])).entrypoint()
