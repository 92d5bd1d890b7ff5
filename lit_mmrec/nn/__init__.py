"""Building blocks of the backbones: sparse propagation layers (PyG ``MessagePassing``), graph
construction from training data, losses and the modality projection. One block per module."""
