"""Pure functions that turn arrays into plotly figures and pyvis HTML."""
