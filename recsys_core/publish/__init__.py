"""Publishing: the per-user top-N table downstream systems read, its checks, atomic files."""
