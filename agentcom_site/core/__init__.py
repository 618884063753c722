"""The kernel: what every app shares. It imports no app and nothing of the site around it."""
