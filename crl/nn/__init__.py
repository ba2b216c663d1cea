"""Encoders and decoders per modality kind."""
