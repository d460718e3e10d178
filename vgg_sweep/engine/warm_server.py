"""What a worker's fork server imports, and nothing else imports: it runs `warm.preload()`."""

from vgg_sweep.engine.warm import preload

preload()
