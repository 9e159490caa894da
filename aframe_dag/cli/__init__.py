"""The `aframe-dag` command line: click shells over the library, one module per group of commands."""
