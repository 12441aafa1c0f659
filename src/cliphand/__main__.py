import sys

try:  # Ctrl-C at any moment (even while torch is still importing) is a clean interrupt, not a traceback
    from cliphand.cli import main

    code = main()
except KeyboardInterrupt:
    print("cliphand: interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
