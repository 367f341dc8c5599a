"""Helpers every test layer shares: paths and sample events, one Lambda context, one clock, one handler loader,
one moto world, in-memory fakes of the domain's ports, and readers for what the logger and metrics print."""
