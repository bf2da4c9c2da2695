"""The local stack: the deployed API, Lambda alias and warmer, on one machine, without AWS.

`stack.LocalStack(StackOptions(...))` serves an HTTP front with the API's routes, a Lambda
invoke endpoint boto3 can call, a pool of instance processes (each a real cold start)
and the warm schedules; `lukewarm serve` runs it, and tests and benchmarks start it as
a child process with `process.StackProcess`.

Nothing is imported here: every instance process starts as `lukewarm.localstack.environment`
and must not pay for the server's imports.
"""
