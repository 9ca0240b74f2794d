"""The ``sinergia`` command line (Typer + Rich). It parses, calls the core, renders; no SQL, no formulas."""
