"""Pure builders: query-layer DataFrames and dicts in, Plotly figures and Dash components out."""
