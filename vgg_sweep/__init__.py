"""vgg-sweep, the trial side: configuration, data, models, training, telemetry, sweep engine.

Importing the package is cheap; torch is imported by the modules that need it.
"""
