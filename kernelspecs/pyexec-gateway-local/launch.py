"""The launcher of PyExec's local Enterprise Gateway kernelspec:
`launch.py [--work-root DIR] -- KERNEL_COMMAND...`.

Gives the kernel its working directory (`KERNEL_WORKING_DIR` on a volume shared with the
worker, else a fresh private one under DIR) and the same minimal environment as PyExec's
local kernels, then execs the kernel command. The rules live in `kernels.gateway.kernel_launch`.
Install it with `python -m pyexec.kernels.gateway.kernelspec`, which points `python` at PyExec's.
"""

import sys

from pyexec.kernels.gateway.kernel_launch import main

if __name__ == "__main__":
    sys.exit(main())
