"""``python -m proxy_project.cli``: the same as the installed ``claude-gateway`` command."""

import sys

from proxy_project.cli import main

sys.exit(main())
