"""``python -m cli`` runs the ``sigmasight`` command."""

from cli.main import main

raise SystemExit(main())
