"""Rendering: task definitions and AppSpecs, checked before AWS sees them (variables, ECS model, secrets, diff)."""
