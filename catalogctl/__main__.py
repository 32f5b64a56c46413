"""Allow ``python -m catalogctl``."""

from catalogctl.cli.main import main

if __name__ == "__main__":
    main()
