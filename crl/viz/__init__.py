"""Pure functions that turn arrays into plotly figures and pyvis HTML.

Nothing is imported here on purpose: `import crl.viz` stays free of plotly and pyvis, and each page imports
the module it needs. What lives where:

- palette: modality colours (Okabe-Ito, stable by first appearance) and colour helpers.
- style: the house plotly look (`apply_style`) and `plain` for escaping user text in plotly labels.
- network: `latent_network_html` (an offline vis-network page; needs pyvis only) and `network_height`.
- network_theme: that page's light and dark colours (it follows the viewer's prefers-color-scheme).
- heatmap: `adjacency_heatmap`, `correlation_heatmap` (the MCC matrix).
- curves: `loss_curves`, `progress_text`.
- traversal: `traversal_figure`; intervention: `intervention_figure` (one figure per modality each; the
  panel helpers both use live in panels).
- previews: `timeseries_preview`, `image_grid`, `overlap_figure`.
- images: image arrays to RGB uint8 and PNG data URIs.
- network_svg: `latent_network_svg` (the graph as a standalone SVG picture); xml_text: `xml_text`, `xml_attr`
  and `legal_chars`, which every XML writer uses for user text.

Show plotly figures with `st.plotly_chart(fig, key=...)` (Streamlit's chart theme): it gives them the app's
light or dark background, text and grid colours; the fonts and sizes set here stay (crl/viz/style.py).
"""
