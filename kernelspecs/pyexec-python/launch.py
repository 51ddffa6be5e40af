"""PyExec's kernel launcher: `launch.py CONNECTION_FILE -- KERNEL_COMMAND...`.

Enters the kernel's jail (its own uid, namespaces, limits; read from `jail.json` beside the
connection file) and then execs the kernel command. Without a `jail.json` it execs the
kernel as it is. The rules live in `kernels.jail`, shared with the fork server's kernels.
"""

import sys

from pyexec.kernels.jail import main

if __name__ == "__main__":
    sys.exit(main())
