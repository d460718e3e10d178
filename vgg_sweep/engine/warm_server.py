"""The last module a worker's fork server imports (vgg_sweep/engine/warm.py), after what the
sweep's trials import: it moves every object made so far out of the garbage collector's sight
(`gc.freeze`, Python's advice before fork without exec), so that a trial's first full
collection walks its own objects only, not the millions the imports made (0.3 s a trial)."""

import gc

gc.freeze()
