"""Figures and texts of the reports (plotting lives here and nowhere else)."""
