"""The model: encoders and decoders per modality kind, the learnable latent graph, the causal flow prior."""
