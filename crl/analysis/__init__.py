"""Graph read-out, traversals, identifiability and exports built on a trained model."""
