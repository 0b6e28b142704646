"""The cache policy of every lab task: inputs + task source + library code version.

Tasks only take paths, small dicts and the data checksum, so a key never hashes a model or a
tensor. A new run computes everything afresh (the flow sets ``refresh_cache``); a resumed or
retried run of the same run directory gets its finished tasks back from the cache.

A run bound for an object store is made in a scratch folder whose place differs from host to
host (each has its own home); the key holds a run's and a dataset's path as their place under
that folder (lab1.store.scratch_identity), so that with result storage in the store a profile a
GPU worker cached is found again by the next worker that resumes the run, on any host.
"""

from prefect.cache_policies import INPUTS, TASK_SOURCE, CacheKeyFnPolicy

from lab1.store import scratch_identity
from lab1.version import code_version

# The parameters that name a run's or a dataset's local place.
PLACES = ("run_dir", "data_path")

CODE_VERSION = CacheKeyFnPolicy(cache_key_fn=lambda context, parameters: code_version())
RUN_PLACE = CacheKeyFnPolicy(
    cache_key_fn=lambda context, parameters: "|".join(
        str(scratch_identity(parameters.get(name))) for name in PLACES
    )
)
_INPUTS = INPUTS
for _name in PLACES:
    _INPUTS = _INPUTS - _name
RUN_CACHE = _INPUTS + RUN_PLACE + TASK_SOURCE + CODE_VERSION
