"""`trainaudit run`: execute a few real training steps in a child process and record what happened."""
