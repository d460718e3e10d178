"""`python -m vgg_sweep ...`: what W&B sweep YAMLs run as `${interpreter} -m vgg_sweep`."""

import sys

from vgg_sweep.cli import main

sys.exit(main())
