"""The cache policy of every lab task: inputs + task source + library code version.

Tasks only take paths, small dicts and the data checksum, so a key never hashes a model or a
tensor. A new run computes everything afresh (the flow sets ``refresh_cache``); a resumed or
retried run of the same run directory gets its finished tasks back from the cache.
"""

from prefect.cache_policies import INPUTS, TASK_SOURCE, CacheKeyFnPolicy

from lab1.version import code_version

CODE_VERSION = CacheKeyFnPolicy(cache_key_fn=lambda context, parameters: code_version())
RUN_CACHE = INPUTS + TASK_SOURCE + CODE_VERSION
