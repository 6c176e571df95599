"""Reference data transcribed from the source plans, and loading it (``huodian seed``)."""
