"""The ``skewless`` command line; the application is :data:`skewless.cli.main.app`."""
