from batch_momentum.cli import main

raise SystemExit(main())
