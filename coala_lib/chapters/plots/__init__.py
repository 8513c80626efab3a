"""Figures and styled tables of each chapter, drawn with seaborn from results only."""
