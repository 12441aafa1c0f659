import sys

try:  # Ctrl-C while torch is still importing is still a clean interrupt, not a traceback
    from cliphand.cli import main
except KeyboardInterrupt:
    print("cliphand: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
