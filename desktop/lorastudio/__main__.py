from lorastudio.cli import main

raise SystemExit(main())
