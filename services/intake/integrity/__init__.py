"""The integrity of intake's record (记录完整性): re-sealing, checkpoints, verify, evidence."""
