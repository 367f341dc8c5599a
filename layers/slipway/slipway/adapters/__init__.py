"""The only code that talks to AWS or Slack. Clients are injected or created lazily, never at import time."""
