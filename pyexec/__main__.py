from pyexec.cli import main

raise SystemExit(main())
