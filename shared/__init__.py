"""Code that the three Huodian services (intake, ledger, notify) share."""
