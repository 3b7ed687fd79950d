"""Figures: accuracy curves and the inspection views (Plotly, no Streamlit)."""
