"""slipway on one machine: fakes and the embedded local cloud (never shipped to Lambda)."""
