"""Train, evaluate and resume lit-mmrec models: ``python train.py fit --config configs/quickstart.yaml``."""

from lit_mmrec.cli import main

if __name__ == "__main__":
    main()
