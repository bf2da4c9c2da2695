"""The local stack: the deployed API, Lambda alias and warmer, on one machine, without AWS.

`LocalStack(StackOptions(...))` serves an HTTP front with the API's routes, a Lambda
invoke endpoint boto3 can call, a pool of instance processes (each a real cold start)
and the warm schedules; `lukewarm serve` runs it, tests and benchmarks start it as a
child process with `StackProcess`.
"""

from .process import StackProcess
from .stack import LocalStack, StackOptions

__all__ = ["LocalStack", "StackOptions", "StackProcess"]
