"""Notify's pages (停电网页) for dispatchers and administrators."""
