"""The only place in crl that imports streamlit: session keys, cached loaders, shared widgets."""
