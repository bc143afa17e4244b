"""genflow's Hydra configs. Importing the package (Hydra does, to read ``pkg://genflow.conf``) puts the
structured-config schemas of train.yaml, sample.yaml and eval.yaml in Hydra's ConfigStore."""

from genflow.conf.schema import register

register()
