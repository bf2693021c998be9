"""Scripted eval conversations and the runner that scores them."""
