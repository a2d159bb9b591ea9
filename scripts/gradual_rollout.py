#!/usr/bin/env python3
"""The operator's rollout CLI (see ROLLOUT_PLAN.md); a thin shim over logiq_core.app.rollout.cli.

python scripts/gradual_rollout.py --status
python scripts/gradual_rollout.py --set economy 50
python scripts/gradual_rollout.py --phase economy internal    # immediate rollback
"""

import sys

from logiq_core.app.process import exit_without_final_collection
from logiq_core.app.rollout.cli import script_main

if __name__ == "__main__":
    code = script_main()
    exit_without_final_collection()
    sys.exit(code)
