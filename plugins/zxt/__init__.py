"""增信通 (ZengXinTong): the nightly taxpayer-credit pipeline."""

import warnings

# Containers and CI have no login session; platformdirs' fallback to /tmp is fine for us.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
