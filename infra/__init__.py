"""The Pulumi program's components, one concern a module, and the stack's settings.

What lives here: `settings` (every config key, validated) and `schedules` (when warm
windows fire), then one component a module: `image`, `service` (the function and its
alias), `helper` (the helper Lambdas), `api`, `warming`, `versions`.

What it may import: Pulumi, `contract`, and the standard library; `settings` and
`schedules` (which the local tools read too) not even Pulumi. Never `lukewarm`,
`toolkit`, `captioner` or the Lambdas' own code: it deploys them as files.
"""
