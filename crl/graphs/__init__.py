"""Pure graph helpers: latent names and blocks, DAG utilities, which latents a graph identifies (no torch)."""
