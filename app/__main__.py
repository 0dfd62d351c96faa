"""``python -m app`` is the ``auction`` command."""

from app.cli import main

main()
