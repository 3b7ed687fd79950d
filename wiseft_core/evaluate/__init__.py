"""Measuring the endpoints and every alpha between: accuracy, sweeps, the sweep CSV and the paper's curves."""
