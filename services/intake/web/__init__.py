"""Intake's pages (报装网页) for clerks, supervisors, viewers and administrators."""
