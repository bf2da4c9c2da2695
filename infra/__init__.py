"""The Pulumi program's components, one concern a module, and the stack's settings."""
